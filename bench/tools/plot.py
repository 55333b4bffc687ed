#!/usr/bin/env python3
"""Plots the latency percentiles of a benchmark's measured runs as a PNG, and prints them as a
Markdown table.

Reads the `BENCH` result lines (bench/lua/common.lua) of RUNS_DIR/<scenario>.run.<n>.txt,
takes the median over the runs of each scenario's p50, p90, p99 and max, and draws one line
per scenario (log scale: the scenarios span microseconds to seconds). Needs matplotlib
(bench/run.sh and bench/observe-cost.sh make a virtual environment for it).

Usage: plot.py RUNS_DIR OUT.png [--title T] [--label SCENARIO=TEXT ...] [--only a,b]
"""

import argparse
import os
import re
import statistics
import sys

PERCENTILES = [("p50", "p50_us"), ("p90", "p90_us"), ("p99", "p99_us"), ("max", "max_us")]


def read_runs(runs_dir):
    """{scenario: [dict of the BENCH line's numbers, per measured run]}."""
    runs = {}
    for name in sorted(os.listdir(runs_dir)):
        m = re.fullmatch(r"(\w+)\.run\.(\d+)\.txt", name)
        if not m:
            continue
        with open(os.path.join(runs_dir, name)) as f:
            line = next((l for l in f.read().splitlines() if l.startswith("BENCH ")), None)
        if line is None:
            sys.exit(f"plot.py: no BENCH line in {name}")
        values = dict(kv.split("=", 1) for kv in line.split()[1:])
        runs.setdefault(m.group(1), []).append({k: float(v) for k, v in values.items()})
    return runs


def medians(runs):
    return {
        scenario: {key: statistics.median(r[key] for r in rs) for key in
                   ["rps"] + [field for _, field in PERCENTILES]}
        for scenario, rs in runs.items()
    }


def table(stats, labels):
    lines = ["| scenario | req/s | p50 | p90 | p99 | max |", "|---|---:|---:|---:|---:|---:|"]
    for scenario, s in stats.items():
        cells = [f"{s[field] / 1000:.2f} ms" for _, field in PERCENTILES]
        lines.append(f"| {labels.get(scenario, scenario)} | {s['rps']:,.0f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(stats, labels, out, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    xs = range(len(PERCENTILES))
    for scenario, s in stats.items():
        ys = [s[field] / 1000 for _, field in PERCENTILES]
        label = f"{labels.get(scenario, scenario)} ({s['rps']:,.0f} req/s)"
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xticks(list(xs), [name for name, _ in PERCENTILES])
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_xlabel("percentile (median of the measured runs)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_dir")
    parser.add_argument("out")
    parser.add_argument("--title", default="Latency percentiles")
    parser.add_argument("--label", action="append", default=[],
                        help="SCENARIO=TEXT, the legend's name for a scenario")
    parser.add_argument("--only", help="comma-separated scenarios to plot (default: all)")
    args = parser.parse_args()
    labels = dict(item.split("=", 1) for item in args.label)
    stats = medians(read_runs(args.runs_dir))
    if args.only:
        keep = args.only.split(",")
        stats = {k: v for k, v in stats.items() if k in keep}
    if not stats:
        sys.exit(f"plot.py: no measured runs in {args.runs_dir}")
    print(table(stats, labels))
    plot(stats, labels, args.out, args.title)


if __name__ == "__main__":
    main()
