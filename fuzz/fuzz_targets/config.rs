//! Configuration parsing: any set of variables gives settings or one clear error, never a
//! panic. Input: lines of `NAME=value`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| *k != "JWT_PUBLIC_KEY_FILE") // never read arbitrary files
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Err(e) = vytalcall::config::Settings::from_map(&vars) {
        assert!(!e.to_string().contains('\n'));
    }
});
