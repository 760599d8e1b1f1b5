//! Property tests of the webhook rules: retries back off within their bounds and never past
//! the retry window, and signatures depend on every signed byte.

use proptest::prelude::*;
use vytalcall_domain::webhook::{NextAttempt, RetryPolicy, Secret, signature};

proptest! {
    #[test]
    fn a_retry_waits_between_half_and_all_of_the_capped_doubling(
        base in 1i64..60_000, max in 1i64..7_200_000, attempt in 1u32..200, random in 0.0f64..1.0,
    ) {
        let p = RetryPolicy { base_ms: base, max_ms: max, window_ms: 86_400_000 };
        let d = p.delay_ms(attempt, random);
        let full = (base as i128 * (1i128 << (attempt - 1).min(40))).min(max as i128) as i64;
        prop_assert!(d >= 1 && d <= max, "{d} within 1..={max}");
        prop_assert!(d <= full && d >= full / 2, "{d} in [{}, {full}]", full / 2);
    }

    #[test]
    fn delays_never_shrink_as_attempts_grow_for_the_same_jitter(
        attempt in 1u32..100, random in 0.0f64..1.0,
    ) {
        let p = RetryPolicy::default();
        prop_assert!(p.delay_ms(attempt + 1, random) >= p.delay_ms(attempt, random));
    }

    #[test]
    fn no_retry_is_ever_scheduled_past_the_window(
        occurred in 0i64..1_000_000, elapsed in 0i64..100_000_000, attempts in 1u32..60, random in 0.0f64..1.0,
    ) {
        let p = RetryPolicy::default();
        let now = occurred + elapsed;
        match p.after_failure(occurred, now, attempts, random) {
            NextAttempt::At(at) => prop_assert!(at > now && at <= occurred + p.window_ms),
            NextAttempt::GiveUp => prop_assert!(now + p.delay_ms(attempts, random) > occurred + p.window_ms),
        }
    }

    #[test]
    fn changing_any_signed_byte_changes_the_signature(
        key in proptest::array::uniform32(any::<u8>()), id in "msg_[a-zA-Z0-9]{1,20}",
        ts in 0i64..4_000_000_000, body in proptest::collection::vec(any::<u8>(), 1..200), flip in any::<prop::sample::Index>(),
    ) {
        let s = Secret::from_key(key);
        let original = signature(&s, &id, ts, &body);
        let mut tampered = body.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 1;
        prop_assert_ne!(&original, &signature(&s, &id, ts, &tampered));
        prop_assert!(original.starts_with("v1,"));
    }
}
