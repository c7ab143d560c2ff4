"""Stage profile: every WAV under data/audio -> data/profile.jsonl, metrics/profile.json, the call-length histogram."""

import os
import time
from collections import Counter
from pathlib import Path

from callscribe import params, plots
from callscribe.profile import profile_tree

OUT = Path("data/profile.jsonl")


def main():
    started = time.perf_counter()
    workers = params.load()["profile"].get("workers") or os.cpu_count() or 1
    # The output persists between runs, so unchanged files are not hashed and decoded again.
    previous = params.read_jsonl(OUT) if OUT.exists() else []
    rows, new = profile_tree("data/audio", previous, workers)
    params.write_jsonl(OUT, rows)

    hours = sum(r["duration"] for r in rows) / 3600
    params.write_json("metrics/profile.json", {
        "files": len(rows),
        "hours": round(hours, 4),
        "bytes": sum(r["bytes"] for r in rows),
        "codecs": dict(Counter(r["codec"] or "unreadable" for r in rows).most_common()),
        "channels": {str(k): v for k, v in Counter(r["channels"] for r in rows if r["readable"]).most_common()},
        "empty": sum(1 for r in rows if r["readable"] and r["duration"] == 0),
        "unreadable": sum(1 for r in rows if not r["readable"]),
        "unnamed": sum(1 for r in rows if r["date"] is None),
    })
    # Call-length histogram: data for `dvc plots show`, and a PNG that shows offline.
    bins = plots.histogram([r["duration"] for r in rows])
    plots.write_json("plots/durations.json", bins)
    plots.bar_png("plots/durations.png", [b["minutes"] for b in bins], [b["calls"] for b in bins],
                  "call length (minutes)", "calls", f"{len(rows)} calls by length")
    print(f"profile: {len(rows)} files, {hours:.2f} h ({new} newly profiled)")
    plots.record_time("profile", started)


if __name__ == "__main__":
    main()
