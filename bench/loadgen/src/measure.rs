//! What the generator reads off the server process (RSS and CPU from /proc) and the
//! percentile of a sorted sample.

use std::time::Instant;

pub(crate) fn proc_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// utime + stime in clock ticks (USER_HZ, 100 on Linux).
pub(crate) fn proc_cpu_ticks(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

pub(crate) struct CpuMark {
    pub(crate) at: Instant,
    pub(crate) server: u64,
    pub(crate) me: u64,
}

pub(crate) fn cpu_mark(pid: u32) -> CpuMark {
    CpuMark {
        at: Instant::now(),
        server: proc_cpu_ticks(&pid.to_string()),
        me: proc_cpu_ticks("self"),
    }
}

/// CPU used since `m`, in percent of one core: (server, generator).
pub(crate) fn cpu_since(m: &CpuMark, pid: u32) -> (f64, f64) {
    let wall = m.at.elapsed().as_secs_f64().max(1e-9);
    let s = proc_cpu_ticks(&pid.to_string()).saturating_sub(m.server) as f64 / 100.0;
    let g = proc_cpu_ticks("self").saturating_sub(m.me) as f64 / 100.0;
    (100.0 * s / wall, 100.0 * g / wall)
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}
