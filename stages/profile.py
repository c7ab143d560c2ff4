"""Stage profile: every WAV under data/audio -> data/profile.jsonl, metrics/profile.json, plots/durations.csv."""

import os
from collections import Counter
from pathlib import Path

from callscribe import params
from callscribe.profile import profile_tree

OUT = Path("data/profile.jsonl")
EDGES = [0, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 90, float("inf")]  # minutes


def main():
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
    # Duration histogram for `dvc plots show`.
    labels = [f"{a:g}-{b:g}" if b != float("inf") else f">{a:g}" for a, b in zip(EDGES, EDGES[1:])]
    counts = Counter(next(lab for lab, b in zip(labels, EDGES[1:]) if r["duration"] / 60 < b) for r in rows)
    Path("plots").mkdir(exist_ok=True)
    with open("plots/durations.csv", "w") as f:
        f.write("minutes,calls\n" + "".join(f"{lab},{counts.get(lab, 0)}\n" for lab in labels))
    print(f"profile: {len(rows)} files, {hours:.2f} h ({new} newly profiled)")


if __name__ == "__main__":
    main()
