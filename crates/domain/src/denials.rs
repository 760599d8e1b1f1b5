//! How refusals of one connection reach the audit trail without letting a script grow it
//! without end. Every refusal is counted, but of each kind (action, event, reason) only the
//! first few in a window are written one by one; the rest of that window becomes one summary
//! entry with their count, written when the window ends or the connection goes. A socket
//! therefore adds at most `written_per_window + 1` entries per kind and window, however fast
//! it sends, and the trail still tells how many refusals there were.

use crate::Millis;
use std::collections::HashMap;
use std::hash::Hash;

/// What to do with one refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write it as its own entry.
    Write,
    /// Count it into the window's summary.
    Count,
}

/// Refusals of one kind that were counted rather than written, in the window from `since`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary<K> {
    pub kind: K,
    pub suppressed: u64,
    pub since: Millis,
}

#[derive(Debug)]
struct Tally {
    since: Millis,
    written: usize,
    suppressed: u64,
}

/// One connection's refusals by kind.
#[derive(Debug)]
pub struct DenialLog<K> {
    window_ms: Millis,
    written_per_window: usize,
    kinds: HashMap<K, Tally>,
}

impl<K: Hash + Eq + Clone> DenialLog<K> {
    pub fn new(window_ms: Millis, written_per_window: usize) -> Self {
        DenialLog {
            window_ms: window_ms.max(1),
            written_per_window,
            kinds: HashMap::new(),
        }
    }

    /// A refusal of `kind` at `now`: whether to write it, and the summary of the kind's
    /// previous window if that window has ended and counted anything.
    pub fn refused(&mut self, kind: K, now: Millis) -> (Verdict, Option<Summary<K>>) {
        let tally = self.kinds.entry(kind.clone()).or_insert(Tally {
            since: now,
            written: 0,
            suppressed: 0,
        });
        let mut ended = None;
        if now.saturating_sub(tally.since) >= self.window_ms {
            if tally.suppressed > 0 {
                ended = Some(Summary {
                    kind,
                    suppressed: tally.suppressed,
                    since: tally.since,
                });
            }
            *tally = Tally {
                since: now,
                written: 0,
                suppressed: 0,
            };
        }
        let verdict = if tally.written < self.written_per_window {
            tally.written += 1;
            Verdict::Write
        } else {
            tally.suppressed += 1;
            Verdict::Count
        };
        (verdict, ended)
    }

    /// The summaries still open (the connection is going): each kind that counted anything.
    pub fn flush(&mut self) -> Vec<Summary<K>> {
        self.kinds
            .drain()
            .filter(|(_, t)| t.suppressed > 0)
            .map(|(kind, t)| Summary {
                kind,
                suppressed: t.suppressed,
                since: t.since,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusals_are_written_and_the_rest_of_the_window_is_counted() {
        let mut log = DenialLog::new(1000, 2);
        assert_eq!(log.refused("offer", 0), (Verdict::Write, None));
        assert_eq!(log.refused("offer", 1), (Verdict::Write, None));
        for t in 2..100 {
            assert_eq!(log.refused("offer", t), (Verdict::Count, None));
        }
        // Another kind has its own allowance.
        assert_eq!(log.refused("join", 50), (Verdict::Write, None));
        // The next window starts with the summary of the last.
        let (verdict, summary) = log.refused("offer", 1000);
        assert_eq!(verdict, Verdict::Write);
        assert_eq!(
            summary,
            Some(Summary {
                kind: "offer",
                suppressed: 98,
                since: 0
            })
        );
        assert_eq!(log.refused("offer", 1001), (Verdict::Write, None));
        assert_eq!(log.refused("offer", 1002), (Verdict::Count, None));
        assert_eq!(
            log.flush(),
            vec![Summary {
                kind: "offer",
                suppressed: 1,
                since: 1000
            }]
        );
        assert_eq!(log.flush(), vec![], "flushed once");
    }

    #[test]
    fn a_window_with_nothing_counted_leaves_no_summary() {
        let mut log = DenialLog::new(10, 5);
        assert_eq!(log.refused("x", 0), (Verdict::Write, None));
        assert_eq!(log.refused("x", 50), (Verdict::Write, None));
        assert!(log.flush().is_empty());
    }
}
