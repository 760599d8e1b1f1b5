//! Properties of the interactive-time arithmetic that billing relies on.

use proptest::prelude::*;
use vytalcall_domain::interactive_time::{Span, interactive_time};
use vytalcall_domain::{CallId, Role, UserId};

const PATIENT: u128 = 1;

fn person(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

/// Spans of one call (patient plus up to three providers, several devices each) inside
/// `[offset, offset + 10_000)`.
fn call_spans(call: u128, offset: i64) -> impl Strategy<Value = Vec<Span>> {
    prop::collection::vec((0u128..4, 0i64..10_000, 0i64..5_000), 1..12).prop_map(move |raw| {
        raw.into_iter()
            .map(|(who, from, len)| Span {
                call: CallId(uuid::Uuid::from_u128(call)),
                person: if who == 0 { person(PATIENT) } else { person(100 + who) },
                role: if who == 0 { Role::Patient } else { Role::Provider },
                from: offset + from,
                to: offset + (from + len).min(10_000),
            })
            .collect()
    })
}

fn total(spans: &[Span], from: i64, to: i64) -> i64 {
    interactive_time(spans, from, to).iter().map(|p| p.millis).sum()
}

proptest! {
    #[test]
    fn never_more_than_the_patients_own_connected_wall_time(spans in call_spans(1, 0)) {
        let t = total(&spans, 0, 10_000);
        let patient_spans: Vec<_> = spans.iter().filter(|s| s.role == Role::Patient).collect();
        let earliest = patient_spans.iter().map(|s| s.from).min().unwrap_or(0);
        let latest = patient_spans.iter().map(|s| s.to).max().unwrap_or(0);
        prop_assert!(t <= (latest - earliest).max(0));
        prop_assert!(t <= 10_000);
    }

    #[test]
    fn additive_over_disjoint_calls(a in call_spans(1, 0), b in call_spans(2, 20_000)) {
        let both: Vec<Span> = a.iter().chain(b.iter()).copied().collect();
        prop_assert_eq!(total(&both, 0, 40_000), total(&a, 0, 40_000) + total(&b, 0, 40_000));
    }

    #[test]
    fn a_second_device_repeating_a_span_adds_nothing(spans in call_spans(1, 0), pick in any::<prop::sample::Index>()) {
        let mut with_copy = spans.clone();
        with_copy.push(spans[pick.index(spans.len())]);
        prop_assert_eq!(total(&with_copy, 0, 10_000), total(&spans, 0, 10_000));
    }

    #[test]
    fn splitting_the_window_splits_the_time(spans in call_spans(1, 0), cut in 0i64..10_000) {
        prop_assert_eq!(total(&spans, 0, 10_000), total(&spans, 0, cut) + total(&spans, cut, 10_000));
    }

    #[test]
    fn each_providers_share_is_at_most_the_patients_total(spans in call_spans(1, 0)) {
        for p in interactive_time(&spans, 0, 10_000) {
            for millis in p.by_provider.values() {
                prop_assert!(*millis <= p.millis);
            }
        }
    }
}
