#!/usr/bin/env python3
"""Prints bench/run's surge table (Markdown): for each N in SURGE_PAIRS, vytalcall beside the
Node reference, from the JSON lines in its output folder."""
import json
import os
import sys

out, pairs = sys.argv[1], sys.argv[2].split()


def load(kind, n):
    path = os.path.join(out, f"{kind}-surge-{n}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(r, key, spec):
    if r is None or r.get(key) is None:
        return "—"
    return spec % r[key]


print("| call pairs | figure | vytalcall | node reference | vytalcall / node |")
print("|---:|---|---:|---:|---:|")
for n in pairs:
    v, o = load("vytalcall", n), load("node", n)
    for label, key, spec in [
        ("sockets joined per second (incl. creating the calls)", "joins_per_sec", "%.0f"),
        ("join ack p50 (ms)", "join_ack_p50_ms", "%.1f"),
        ("join ack p99 (ms)", "join_ack_p99_ms", "%.1f"),
        ("until every pair negotiated (s)", "all_negotiated_secs", "%.2f"),
        ("pairs done / failed", None, None),
    ]:
        if key is None:
            cell = lambda r: "—" if r is None else f"{r['pairs_done']} / {len(r['failures'])}"
            print(f"| {n} | {label} | {cell(v)} | {cell(o)} | |")
            continue
        ratio = ""
        if v and o and v.get(key) and o.get(key):
            ratio = f"{v[key] / o[key]:.2f}×"
        print(f"| {n} | {label} | {fmt(v, key, spec)} | {fmt(o, key, spec)} | {ratio} |")
