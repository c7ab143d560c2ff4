"""Stage review: draw review.sample excerpts into labels/queue.jsonl (kept as it is while the draw's
params stay the same) and make sure labels/labels.jsonl exists. The labels themselves are written by
the review page (`callscribe serve`, /review); this stage only tracks them, so `dvc push` sends them."""

import sys
from pathlib import Path

from callscribe import params
from callscribe.review import ReviewError, sample


def main():
    p = params.load().get("review") or {}
    n, seed = p.get("sample", 0), p.get("seed", 1)
    queue, labels = Path("labels/queue.jsonl"), Path("labels/labels.jsonl")
    labels.parent.mkdir(exist_ok=True)
    labels.touch()
    if not n:
        queue.touch()
        print("review: review.sample is 0, no excerpts drawn (set it, e.g. `dvc exp run -S review.sample=50`)")
        return
    try:
        excerpts = sample(n, seed, queue, Path("data/output/calls.jsonl"), replace=True)
    except ReviewError as e:
        sys.exit(f"review: {e}")
    print(f"review: {len(excerpts)} excerpts, {sum(e['end'] - e['start'] for e in excerpts) / 60:.1f} min in {queue}")


if __name__ == "__main__":
    main()
