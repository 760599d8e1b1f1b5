//! Socket.IO event payloads: any event name and any JSON a client sends become a typed event
//! or a `SignalingError` naming the field, never a panic. The first byte picks one of the
//! events the server accepts (so the fuzzer reaches each validator); the rest is the payload.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vytalcall::signaling::payload::{EventName, parse};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let event = EventName::ALL[usize::from(pick) % EventName::ALL.len()];
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    if let Ok(parsed) = parse(event, &value) {
        // A parsed event always names the call it was sent for.
        let _ = parsed.call();
    }
    // Names arrive as text too: unknown ones are refused, known ones round-trip.
    if let Ok(name) = std::str::from_utf8(body) {
        if let Some(event) = EventName::parse(name) {
            assert_eq!(event.as_str(), name);
        }
    }
});
