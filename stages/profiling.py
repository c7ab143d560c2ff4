"""Stage profile: every WAV under data/audio -> data/profile.jsonl, metrics/profile.json, the call-length histogram."""

import os
import time
from pathlib import Path

from callscribe import params, plots
from callscribe.fileio import read_jsonl, write_json, write_jsonl
from callscribe.profile import metrics, profile_tree

OUT = Path("data/profile.jsonl")


def main():
    started = time.perf_counter()
    workers = params.load()["profile"].get("workers") or os.cpu_count() or 1
    # The output persists between runs, so unchanged files are not hashed and decoded again.
    previous = read_jsonl(OUT) if OUT.exists() else []
    rows, new = profile_tree("data/audio", previous, workers)
    write_jsonl(OUT, rows)
    summary = metrics(rows)
    write_json("metrics/profile.json", summary)
    # Call-length histogram: data for `dvc plots show`, and a PNG that shows offline.
    bins = plots.histogram([r["duration"] for r in rows])
    plots.write_json("plots/durations.json", bins)
    plots.bar_png("plots/durations.png", [b["minutes"] for b in bins], [b["calls"] for b in bins],
                  "call length (minutes)", "calls", f"{len(rows)} calls by length")
    print(f"profile: {len(rows)} files, {summary['hours']:.2f} h ({new} newly profiled)")
    plots.record_time("profile", started)


if __name__ == "__main__":
    main()
