//! Judging connection quality. Clients report `connection-quality` metrics every few
//! seconds; [`QualityJudge`] turns them into a warning when a figure is poor, and suggests
//! switching to audio only when video stays poor across several consecutive reports (one
//! bad sample is often a blip; a run of them is a connection that cannot carry video).
//!
//! Pure: the judge keeps only a count of consecutive poor samples, so it is tested without
//! clocks or sockets.

use serde::Serialize;

/// One report, already validated (finite, non-negative, in range).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityMetrics {
    /// Available bandwidth in kbps.
    pub bandwidth: f64,
    /// Round-trip latency in ms.
    pub latency: f64,
    /// Lost packets in percent (0–100).
    pub packet_loss: f64,
    /// Jitter in ms.
    pub jitter: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_resolution: Option<String>,
}

/// Where a figure stops being acceptable. The defaults follow common WebRTC guidance:
/// above ~5 % loss, ~300 ms latency or ~50 ms jitter conversation suffers, and below
/// ~300 kbps video cannot be carried at a usable resolution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub max_packet_loss: f64,
    pub max_latency: f64,
    pub max_jitter: f64,
    pub min_video_bandwidth: f64,
    /// Consecutive poor reports after which audio-only is suggested.
    pub sustained_samples: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_packet_loss: 5.0,
            max_latency: 300.0,
            max_jitter: 50.0,
            min_video_bandwidth: 300.0,
            sustained_samples: 3,
        }
    }
}

/// What the server tells the participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The worst problem found: `high-packet-loss`, `high-latency`, `high-jitter` or
    /// `low-bandwidth`.
    pub warning: &'static str,
    /// `switch-to-audio-only`, `reduce-video-quality` or `check-network`.
    pub suggestion: &'static str,
}

/// Judges one participant's stream of reports.
#[derive(Clone, Debug, Default)]
pub struct QualityJudge {
    consecutive_poor: u32,
}

impl QualityJudge {
    /// Judges a report; `None` when every figure is acceptable (which also ends a poor run).
    pub fn judge(&mut self, m: &QualityMetrics, t: &Thresholds) -> Option<Warning> {
        let problem = if m.packet_loss > t.max_packet_loss {
            Some("high-packet-loss")
        } else if m.bandwidth < t.min_video_bandwidth {
            Some("low-bandwidth")
        } else if m.latency > t.max_latency {
            Some("high-latency")
        } else if m.jitter > t.max_jitter {
            Some("high-jitter")
        } else {
            None
        };
        let Some(warning) = problem else {
            self.consecutive_poor = 0;
            return None;
        };
        self.consecutive_poor = self.consecutive_poor.saturating_add(1);
        // Loss and bandwidth starve video; latency and jitter hurt audio just as much, so
        // dropping video does not help with them.
        let video_starved = matches!(warning, "high-packet-loss" | "low-bandwidth");
        let suggestion = if video_starved && self.consecutive_poor >= t.sustained_samples {
            "switch-to-audio-only"
        } else if video_starved {
            "reduce-video-quality"
        } else {
            "check-network"
        };
        Some(Warning { warning, suggestion })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> QualityMetrics {
        QualityMetrics {
            bandwidth: 1500.0,
            latency: 45.0,
            packet_loss: 0.5,
            jitter: 12.0,
            video_resolution: Some("1280x720".into()),
        }
    }

    #[test]
    fn the_seed_example_metrics_are_fine() {
        let mut judge = QualityJudge::default();
        assert_eq!(judge.judge(&good(), &Thresholds::default()), None);
    }

    #[test]
    fn each_poor_figure_gives_its_own_warning() {
        let t = Thresholds::default();
        let cases = [
            (
                QualityMetrics {
                    packet_loss: 12.0,
                    ..good()
                },
                "high-packet-loss",
                "reduce-video-quality",
            ),
            (
                QualityMetrics {
                    bandwidth: 100.0,
                    ..good()
                },
                "low-bandwidth",
                "reduce-video-quality",
            ),
            (
                QualityMetrics {
                    latency: 800.0,
                    ..good()
                },
                "high-latency",
                "check-network",
            ),
            (
                QualityMetrics { jitter: 90.0, ..good() },
                "high-jitter",
                "check-network",
            ),
        ];
        for (m, warning, suggestion) in cases {
            let mut judge = QualityJudge::default();
            assert_eq!(judge.judge(&m, &t), Some(Warning { warning, suggestion }), "{m:?}");
        }
    }

    #[test]
    fn sustained_poor_video_suggests_switching_to_audio_only() {
        let t = Thresholds::default();
        let poor = QualityMetrics {
            packet_loss: 15.0,
            ..good()
        };
        let mut judge = QualityJudge::default();
        let suggestions: Vec<_> = (0..4).map(|_| judge.judge(&poor, &t).map(|w| w.suggestion)).collect();
        assert_eq!(
            suggestions,
            vec![
                Some("reduce-video-quality"),
                Some("reduce-video-quality"),
                Some("switch-to-audio-only"),
                Some("switch-to-audio-only"),
            ]
        );
    }

    #[test]
    fn a_good_report_ends_a_poor_run() {
        let t = Thresholds::default();
        let poor = QualityMetrics {
            bandwidth: 50.0,
            ..good()
        };
        let mut judge = QualityJudge::default();
        judge.judge(&poor, &t);
        judge.judge(&poor, &t);
        assert_eq!(judge.judge(&good(), &t), None);
        assert_eq!(
            judge.judge(&poor, &t).map(|w| w.suggestion),
            Some("reduce-video-quality")
        );
    }
}
