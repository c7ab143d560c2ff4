"""Stage profile: every WAV under data/audio -> data/profile.jsonl, metrics/profile.json, plots/durations.csv."""

import os
from pathlib import Path

from callscribe import params
from callscribe.fileio import atomic_write, read_jsonl, write_json, write_jsonl
from callscribe.profile import duration_histogram, metrics, profile_tree

OUT = Path("data/profile.jsonl")


def main():
    workers = params.load()["profile"].get("workers") or os.cpu_count() or 1
    # The output persists between runs, so unchanged files are not hashed and decoded again.
    previous = read_jsonl(OUT) if OUT.exists() else []
    rows, new = profile_tree("data/audio", previous, workers)
    write_jsonl(OUT, rows)
    summary = metrics(rows)
    write_json("metrics/profile.json", summary)
    atomic_write("plots/durations.csv", duration_histogram(rows))
    print(f"profile: {len(rows)} files, {summary['hours']:.2f} h ({new} newly profiled)")


if __name__ == "__main__":
    main()
