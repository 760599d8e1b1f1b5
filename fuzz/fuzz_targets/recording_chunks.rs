//! The recording chunk reader: a stored object is outside input once it sits in a bucket.
//!
//! Two modes, picked by the first byte:
//! - raw: any bytes as a stored object (after a valid header, so the framing and the AEAD
//!   checks are reached): never a panic, never more than one chunk allocated;
//! - round trip: the input is cut into chunks that are sealed, optionally truncated or with
//!   one byte flipped; what decrypts is always a prefix of what was written, a whole
//!   closed object decrypts exactly, and a flipped byte is never accepted.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use uuid::Uuid;
use vytalcall::recording::crypto::{ChunkReader, RecordingKey, decrypt_all};

struct Fixture {
    key: RecordingKey,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        Fixture {
            key: RecordingKey::generate(id),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let f = fixture();
    if mode % 2 == 0 {
        let mut stored = f.key.header().to_vec();
        stored.extend_from_slice(rest);
        let _ = decrypt_all(&f.key, &stored, true);
        let _ = decrypt_all(&f.key, &stored, false);
        // The same bytes arriving in pieces parse to the same chunk frames.
        let mut reader = ChunkReader::default();
        let step = usize::from(mode / 2).max(1);
        for piece in stored.chunks(step) {
            reader.push(piece);
            if reader.header().is_err() {
                return;
            }
            while let Ok(Some(_)) = reader.next_chunk() {}
        }
        return;
    }
    round_trip(f, mode, rest);
});

fn round_trip(f: &Fixture, mode: u8, rest: &[u8]) {
    let Some((&cut, rest)) = rest.split_first() else { return };
    let Some((&flip, payload)) = rest.split_first() else { return };
    let size = usize::from(cut % 64) + 1;
    let pieces: Vec<&[u8]> = payload.chunks(size).collect();
    let close = mode & 0b10 != 0;
    let mut stored = f.key.header().to_vec();
    for (i, piece) in pieces.iter().enumerate() {
        let last = close && i + 1 == pieces.len();
        let sealed = f
            .key
            .seal_chunk(i as u32, last, (i as u32 + 1) * 20, piece)
            .expect("seal");
        stored.extend_from_slice(&sealed);
    }
    let whole = stored.len();
    let body = whole - f.key.header().len();
    let cut_off = if mode & 0b100 != 0 { usize::from(flip) % (body + 1) } else { 0 };
    let flipped = cut_off == 0 && mode & 0b1000 != 0;
    if cut_off > 0 {
        stored.truncate(whole - cut_off);
    } else if flipped {
        stored[usize::from(flip) * 131 % whole] ^= 0x01;
    }
    // Reading as a crashed recording: whatever decrypts is a prefix of what was written (a
    // damaged frame length looks like a torn write, so the rest is not served).
    if let Ok((plain, _)) = decrypt_all(&f.key, &stored, false) {
        assert!(payload.starts_with(&plain), "decrypted bytes are a prefix of the written ones");
        if cut_off == 0 && !flipped {
            assert_eq!(plain, payload, "an untouched object decrypts whole");
        }
    } else {
        assert!(flipped, "an object that was only cut short still decrypts its whole chunks");
    }
    // Reading as a completed recording: only an untouched, closed object is whole.
    let strict = decrypt_all(&f.key, &stored, true).map(|(p, _)| p);
    if cut_off == 0 && !flipped && close && !pieces.is_empty() {
        assert_eq!(strict.ok().as_deref(), Some(payload));
    } else if !close || flipped || cut_off > 0 {
        assert!(strict.is_err(), "an unclosed, altered or truncated object is never whole");
    }
}
