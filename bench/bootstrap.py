"""How far apart two runs' WER may be by chance on a sample of this size: a paired bootstrap over clips.

Reads the per-clip files `bench/throughput.py --clips` writes; each run is named FILE:RUN (RUN as
that file names it: baseline, pipeline, "pipeline2 pack_seconds=0", ...). Runs of different files
are paired by clip (the same seeded sample). Prints each run's WER per kind of speech with its word
count, then, for every run after the first, the difference from the first and its 95 % interval when
clips are resampled with replacement (1000 times, seeded): an interval that holds 0 is within the
sampling noise.

    python bench/bootstrap.py a.jsonl:baseline b.jsonl:baseline a.jsonl:pipeline "a.jsonl:pipeline2 pack_seconds=0"
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callscribe.evaluate import normalize  # noqa: E402


def load(spec: str) -> dict[str, tuple[str, int, int]]:
    """FILE:RUN -> {clip: (kind, reference words, errors)}."""
    path, run = spec.split(":", 1)
    out = {}
    for row in map(json.loads, open(path)):
        words = len(normalize(row["reference"]).split())
        if words:
            out[row["clip"]] = (row["kind"], words, row[run]["errors"])
    return out


def interval(clips: list[str], first: dict, other: dict, times: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """WER(other) - WER(first) in points, and its 2.5 and 97.5 percentiles over resampled clip sets."""
    rng = random.Random(seed)

    def diff(sample):
        words = sum(first[c][1] for c in sample)
        return 100 * (sum(other[c][2] for c in sample) - sum(first[c][2] for c in sample)) / words

    diffs = sorted(diff(rng.choices(clips, k=len(clips))) for _ in range(times))
    return diff(clips), diffs[int(0.025 * times)], diffs[int(0.975 * times) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="FILE:RUN")
    parser.add_argument("--times", type=int, default=1000)
    args = parser.parse_args()
    runs = {spec: load(spec) for spec in args.runs}
    first = runs[args.runs[0]]
    common = [c for c in first if all(c in r for r in runs.values())]
    kinds = sorted({first[c][0] for c in common})
    for kind in [*kinds, "all"] if len(kinds) > 1 else kinds:
        clips = [c for c in common if kind in ("all", first[c][0])]
        words = sum(first[c][1] for c in clips)
        print(f"\n{kind}: {len(clips)} clips, {words} words")
        for spec, r in runs.items():
            wer = 100 * sum(r[c][2] for c in clips) / words
            line = f"  {spec:60s} WER {wer:6.2f} %"
            if r is not first:
                d, lo, hi = interval(clips, first, r, args.times)
                line += f"   vs first {d:+6.2f} points, 95 % [{lo:+.2f}, {hi:+.2f}]"
            print(line)


if __name__ == "__main__":
    main()
