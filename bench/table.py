#!/usr/bin/env python3
"""Prints bench/run's results table (Markdown) from the JSON lines in its output folder."""
import json
import os
import platform
import sys

out, pairs, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def load(kind, step):
    with open(os.path.join(out, f"{kind}-{step}.json")) as f:
        r = json.load(f)
    # A run with no samples reports null percentiles: show them as "nan", not a crash.
    return {k: (float("nan") if v is None and k.endswith(("_us", "_ms")) else v) for k, v in r.items()}


v = {s: load("vytalcall", s) for s in ("idle", "peak", "half")}
n = {s: load("node", s) for s in ("idle", "peak", "half")}


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "n/a"


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


rows = [
    ("relay throughput, %d call pairs (msgs/s, higher is better)" % pairs,
     v["peak"]["throughput"], n["peak"]["throughput"], "%.0f", "≥ 5×",
     v["peak"]["throughput"] >= 5 * n["peak"]["throughput"]),
    ("memory per idle authenticated connection (KiB, %d held)" % idle,
     v["idle"]["bytes_per_conn"] / 1024, n["idle"]["bytes_per_conn"] / 1024, "%.1f", "≤ 0.25×",
     v["idle"]["bytes_per_conn"] <= 0.25 * n["idle"]["bytes_per_conn"]),
    ("p99 relay latency at half of own peak (ms)",
     v["half"]["p99_us"] / 1000, n["half"]["p99_us"] / 1000, "%.2f", "≤ 2 ms",
     v["half"]["p99_us"] <= 2000),
    ("idle authenticated connections held by one process",
     v["idle"]["connected"], n["idle"]["connected"], "%d", "10,000",
     v["idle"]["connected"] >= 10000),
]
print(f"Machine: {os.cpu_count()} cores, {cpu()}; generator and server share them.\n")
print("| measure | vytalcall | node reference | vytalcall / node | target | met |")
print("|---|---:|---:|---:|---|---|")
for name, a, b, fmt, target, met in rows:
    print(f"| {name} | {fmt % a} | {fmt % b} | {ratio(a, b)} | {target} | {'yes' if met else 'NO'} |")

print("\n| detail | vytalcall | node reference |")
print("|---|---:|---:|")
detail = [
    ("peak: server CPU (% of one core)", "peak", "server_cpu_pct", "%.0f"),
    ("peak: generator CPU (% of one core)", "peak", "gen_cpu_pct", "%.0f"),
    ("peak: p50 / p99 relay latency (ms)", "peak", None, None),
    ("half: offered rate (msgs/s)", "half", "offered_rate", "%.0f"),
    ("half: delivered (msgs/s)", "half", "throughput", "%.0f"),
    ("half: p50 relay latency (ms)", "half", "p50_us", "ms"),
    ("half: p99 relay latency (ms)", "half", "p99_us", "ms"),
    ("half: p99.9 relay latency (ms)", "half", "p999_us", "ms"),
    ("half: server CPU (% of one core)", "half", "server_cpu_pct", "%.0f"),
    ("half: generator CPU (% of one core)", "half", "gen_cpu_pct", "%.0f"),
    ("connection set-up, idle run (conns/s)", "idle", "setup_rate", "%.0f"),
    ("idle: server RSS before / after (MiB)", "idle", None, None),
    ("calls: sockets connected per second (incl. call creation)", "peak", "connect_rate", "%.0f"),
    ("calls: one call's signaling, p50 / p99 (ms)", "peak", None, None),
    ("server RSS under peak load (MiB)", "peak", "server_rss_load_kb", "mib"),
    ("errors (error events, failures, failed leaves) peak / half", None, None, None),
]


def cell(r, step, key, fmt):
    x = r[step]
    if key is None:
        if name.startswith("peak: p50"):
            return "%.2f / %.2f" % (x["p50_us"] / 1000, x["p99_us"] / 1000)
        if name.startswith("idle: server RSS"):
            return "%.0f / %.0f" % (x["rss_before_kb"] / 1024, x["rss_after_kb"] / 1024)
        if name.startswith("calls: one call"):
            return "%.1f / %.1f" % (x["script_p50_ms"], x["script_p99_ms"])
        return " / ".join(
            "%d, %d, %d" % (r[s]["error_events"], len(r[s]["failures"]), r[s]["leave_failed"]) for s in ("peak", "half")
        )
    val = x[key]
    if fmt == "ms":
        return "%.3f" % (val / 1000)
    if fmt == "mib":
        return "%.0f" % (val / 1024)
    return fmt % val


for name, step, key, fmt in detail:
    print(f"| {name} | {cell(v, step or 'peak', key, fmt)} | {cell(n, step or 'peak', key, fmt)} |")
for label, r in (("vytalcall", v), ("node", n)):
    for s in ("peak", "half"):
        if r[s]["failures"]:
            print(f"\n{label} {s} failures (first): {r[s]['failures'][:3]}")
    if r["idle"].get("first_error"):
        print(f"\n{label} idle first error: {r['idle']['first_error']}")
