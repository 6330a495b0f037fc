"""Draws docs/perf/bench/latency.png from docs/perf/bench/results.json (written by `bench`).

Left: warm p50/p99 per function through the Runtime API, with the targets.
Right: cold start per function, with the target.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

source = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/perf/bench/results.json")
target = Path(sys.argv[2] if len(sys.argv) > 2 else source.with_name("latency.png"))
report = json.loads(source.read_text())
functions = report.get("functions", [])
if not functions:
    sys.exit("no function figures in the report: run `scripts/bench functions`")

warm = [f for f in functions if f.get("warm")]
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})

names = [f["name"] for f in warm]
xs = range(len(warm))
width = 0.38
left.bar([x - width / 2 for x in xs], [f["warm"]["p50_ms"] for f in warm], width, label="p50")
left.bar([x + width / 2 for x in xs], [f["warm"]["p99_ms"] for f in warm], width, label="p99")
left.axhline(2, color="tab:blue", linestyle="--", linewidth=1, label="p50 target (2 ms)")
left.axhline(5, color="tab:orange", linestyle="--", linewidth=1, label="p99 target (5 ms)")
left.set_xticks(list(xs), names, rotation=30, ha="right")
left.set_ylabel("ms per invocation (Runtime API, warm)")
left.set_title("Warm latency per function")
left.legend(fontsize=8)

cold_names = [f["name"] for f in functions]
right.barh(cold_names, [f["cold_ms"] for f in functions], color="tab:green")
right.axvline(30, color="tab:red", linestyle="--", linewidth=1, label="target (30 ms)")
right.invert_yaxis()
right.set_xlabel("ms, process start to first answer (median)")
right.set_title("Cold start per function")
right.legend(fontsize=8)

fig.suptitle("waffledotcom release binaries, 1,000 seeded users, MariaDB on loopback")
fig.tight_layout()
target.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(target, dpi=110)
print(f"wrote {target}")
