//! REST request bodies: any bytes become a typed request or a problem naming the field,
//! never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vytalcall::http::calls::{AnswerBody, CreateCallBody, ReasonBody};
use vytalcall::http::extract::parse_json_body;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = parse_json_body::<CreateCallBody>(data) {
        let _ = body.into_new_call();
    }
    let _ = parse_json_body::<AnswerBody>(data);
    if let Ok(body) = parse_json_body::<ReasonBody>(data) {
        let _ = vytalcall::http::extract::reason(body.reason, "default");
    }
});
