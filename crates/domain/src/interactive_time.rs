//! Interactive communication time for remote patient monitoring billing.
//!
//! CMS pays CPT 99457 for the first 20 minutes in a calendar month of real-time audio or
//! video between a patient and their care team, and 99458 for each further 20 minutes. Only
//! time the patient and at least one provider were connected *together* counts, so the
//! arithmetic works on intervals:
//!
//! 1. Each device's connected span is one interval. A person's devices are merged into the
//!    union of their spans: two devices, or a reconnection that overlaps the old span, never
//!    count twice. The reconnection grace period is not connected time; the caller passes a
//!    disconnected device's span as ending when it dropped.
//! 2. Spans are clipped to the report's window (the calendar month in `REPORT_TIMEZONE`,
//!    computed by the caller), so a call across midnight at a month boundary counts in each
//!    month for the part that fell in it.
//! 3. A patient's interactive time is the measure of (patient ∩ any provider) over all their
//!    calls, the union again across calls, so two calls at once never double-count.
//!    Per provider it is (patient ∩ that provider).
//!
//! Everything here is plain arithmetic on Unix milliseconds: tested directly and by
//! properties (never more than wall time, additive over disjoint calls, extra devices never
//! add time).

use crate::{CallId, Millis, Role, UserId};
use std::collections::{BTreeMap, BTreeSet};

/// One device's connected span in one call: `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub call: CallId,
    pub person: UserId,
    pub role: Role,
    pub from: Millis,
    pub to: Millis,
}

/// A patient's interactive time in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientTime {
    pub patient: UserId,
    /// With at least one provider.
    pub millis: Millis,
    /// Calls that contributed any interactive time.
    pub calls: BTreeSet<CallId>,
    /// With each provider (these may overlap each other: two providers at once).
    pub by_provider: BTreeMap<UserId, Millis>,
}

impl PatientTime {
    /// Whole minutes, rounded down: billing counts completed minutes.
    pub fn minutes(&self) -> i64 {
        self.millis / 60_000
    }
}

/// The CPT codes a month's interactive minutes reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BillingCodes {
    /// 99457: the first 20 minutes.
    pub cpt_99457: bool,
    /// 99458: each further complete 20 minutes.
    pub cpt_99458_units: u32,
}

pub const MINUTES_PER_UNIT: i64 = 20;

pub fn billing_codes(minutes: i64) -> BillingCodes {
    let units = (minutes.max(0) / MINUTES_PER_UNIT) as u32;
    BillingCodes {
        cpt_99457: units >= 1,
        cpt_99458_units: units.saturating_sub(1),
    }
}

/// Sorted, non-overlapping intervals.
type Union = Vec<(Millis, Millis)>;

fn union(mut intervals: Vec<(Millis, Millis)>) -> Union {
    intervals.retain(|(from, to)| from < to);
    intervals.sort_unstable();
    let mut merged: Union = Vec::with_capacity(intervals.len());
    for (from, to) in intervals {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged
}

fn intersect(a: &Union, b: &Union) -> Union {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let from = a[i].0.max(b[j].0);
        let to = a[i].1.min(b[j].1);
        if from < to {
            out.push((from, to));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn measure(u: &Union) -> Millis {
    u.iter().map(|(from, to)| to - from).sum()
}

/// One call's spans: the patients' and the providers', each by person.
type CallSpans = (
    BTreeMap<UserId, Vec<(Millis, Millis)>>,
    BTreeMap<UserId, Vec<(Millis, Millis)>>,
);

/// Interactive time per patient within `[window_from, window_to)`, patients in id order.
/// Spans of admins and guests count for nobody: only a patient with a provider bills.
pub fn interactive_time(spans: &[Span], window_from: Millis, window_to: Millis) -> Vec<PatientTime> {
    let clip = |s: &Span| (s.from.max(window_from), s.to.min(window_to));
    // Per call: the patient's spans and each provider's.
    let mut calls: BTreeMap<CallId, CallSpans> = BTreeMap::new();
    for span in spans {
        let (patients, providers) = calls.entry(span.call).or_default();
        match span.role {
            Role::Patient => patients.entry(span.person).or_default().push(clip(span)),
            Role::Provider => providers.entry(span.person).or_default().push(clip(span)),
            Role::Admin => {}
        }
    }
    let mut together: BTreeMap<UserId, Vec<(Millis, Millis)>> = BTreeMap::new();
    let mut with_provider: BTreeMap<(UserId, UserId), Vec<(Millis, Millis)>> = BTreeMap::new();
    let mut contributing: BTreeMap<UserId, BTreeSet<CallId>> = BTreeMap::new();
    for (call, (patients, providers)) in calls {
        let providers: Vec<(UserId, Union)> = providers.into_iter().map(|(p, v)| (p, union(v))).collect();
        let any_provider = union(providers.iter().flat_map(|(_, u)| u.iter().copied()).collect());
        for (patient, spans) in patients {
            let patient_union = union(spans);
            let shared = intersect(&patient_union, &any_provider);
            if shared.is_empty() {
                continue;
            }
            contributing.entry(patient).or_default().insert(call);
            together.entry(patient).or_default().extend(shared);
            for (provider, provider_union) in &providers {
                with_provider
                    .entry((patient, *provider))
                    .or_default()
                    .extend(intersect(&patient_union, provider_union));
            }
        }
    }
    together
        .into_iter()
        .map(|(patient, intervals)| PatientTime {
            patient,
            millis: measure(&union(intervals)),
            calls: contributing.remove(&patient).unwrap_or_default(),
            by_provider: with_provider
                .range((patient, UserId(uuid::Uuid::nil()))..)
                .take_while(|((p, _), _)| *p == patient)
                .map(|((_, provider), v)| (*provider, measure(&union(v.clone()))))
                .filter(|(_, millis)| *millis > 0)
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    fn id(n: u128) -> UserId {
        UserId(uuid::Uuid::from_u128(n))
    }

    fn call(n: u128) -> CallId {
        CallId(uuid::Uuid::from_u128(n))
    }

    fn span(c: u128, person: u128, role: Role, from_min: i64, to_min: i64) -> Span {
        Span {
            call: call(c),
            person: id(person),
            role,
            from: from_min * MIN,
            to: to_min * MIN,
        }
    }

    const PATIENT: u128 = 1;
    const DR_A: u128 = 10;
    const DR_B: u128 = 11;

    #[test]
    fn only_time_with_a_provider_counts() {
        // The patient waits 5 minutes, the provider joins late and stays 12.
        let spans = [
            span(1, PATIENT, Role::Patient, 0, 20),
            span(1, DR_A, Role::Provider, 5, 17),
        ];
        let report = interactive_time(&spans, 0, 1_000 * MIN);
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].minutes(), 12);
        assert_eq!(report[0].by_provider.get(&id(DR_A)), Some(&(12 * MIN)));
    }

    #[test]
    fn two_devices_and_a_reconnection_never_double_count() {
        let spans = [
            span(1, PATIENT, Role::Patient, 0, 10),  // phone
            span(1, PATIENT, Role::Patient, 2, 8),   // laptop at the same time
            span(1, PATIENT, Role::Patient, 11, 25), // reconnected after a one-minute drop
            span(1, DR_A, Role::Provider, 0, 25),
        ];
        let report = interactive_time(&spans, 0, 1_000 * MIN);
        assert_eq!(report[0].minutes(), 24, "the minute offline is not counted");
    }

    #[test]
    fn two_providers_at_once_count_once_for_the_patient_and_each_for_themselves() {
        let spans = [
            span(1, PATIENT, Role::Patient, 0, 30),
            span(1, DR_A, Role::Provider, 0, 20),
            span(1, DR_B, Role::Provider, 10, 30),
        ];
        let report = interactive_time(&spans, 0, 1_000 * MIN);
        assert_eq!(report[0].minutes(), 30);
        assert_eq!(report[0].by_provider[&id(DR_A)], 20 * MIN);
        assert_eq!(report[0].by_provider[&id(DR_B)], 20 * MIN);
    }

    #[test]
    fn a_call_across_the_window_edge_counts_only_the_part_inside() {
        // Month ends at minute 100; the call runs from 90 to 130.
        let spans = [
            span(1, PATIENT, Role::Patient, 90, 130),
            span(1, DR_A, Role::Provider, 90, 130),
        ];
        assert_eq!(interactive_time(&spans, 0, 100 * MIN)[0].minutes(), 10);
        assert_eq!(interactive_time(&spans, 100 * MIN, 200 * MIN)[0].minutes(), 30);
    }

    #[test]
    fn calls_in_different_months_or_without_a_provider_are_absent() {
        let spans = [
            span(1, PATIENT, Role::Patient, 0, 30),
            span(2, PATIENT, Role::Patient, 500, 530),
            span(2, DR_A, Role::Provider, 500, 530),
        ];
        let report = interactive_time(&spans, 0, 100 * MIN);
        assert!(
            report.is_empty(),
            "call 1 had no provider, call 2 is outside: {report:?}"
        );
    }

    #[test]
    fn billing_codes_follow_complete_twenty_minute_units() {
        let codes = |m| billing_codes(m);
        assert_eq!(
            codes(19),
            BillingCodes {
                cpt_99457: false,
                cpt_99458_units: 0
            }
        );
        assert_eq!(
            codes(20),
            BillingCodes {
                cpt_99457: true,
                cpt_99458_units: 0
            }
        );
        assert_eq!(
            codes(39),
            BillingCodes {
                cpt_99457: true,
                cpt_99458_units: 0
            }
        );
        assert_eq!(
            codes(40),
            BillingCodes {
                cpt_99457: true,
                cpt_99458_units: 1
            }
        );
        assert_eq!(
            codes(75),
            BillingCodes {
                cpt_99457: true,
                cpt_99458_units: 2
            }
        );
        assert_eq!(
            codes(-5),
            BillingCodes {
                cpt_99457: false,
                cpt_99458_units: 0
            }
        );
    }
}
