"""Stage review: draw review.sample excerpts into labels/queue.jsonl (kept as it is while the draw's
params stay the same). The labels themselves, labels/labels.jsonl, are written by the review page
(`callscribe serve`, /review); this stage makes the folder a DVC output, so `dvc push` sends them."""

import sys
from pathlib import Path

from callscribe import params
from callscribe.fileio import atomic_write
from callscribe.review import ReviewError, sample

README = """# Labels: the owner's own reference transcripts

- queue.jsonl: the excerpts to review (`callscribe review --sample N`, or params.yaml review.sample)
- labels.jsonl: one line per reviewed excerpt, written by the review page (`callscribe serve`, /review)

Tracked by DVC (stage review): `dvc push` sends them with the transcripts. See docs/guide/review.md.
"""


def main():
    p = params.load()["review"]
    n, seed = p["sample"], p["seed"]
    queue = Path("labels/queue.jsonl")
    if not (queue.parent / "README.md").is_file():  # the folder is never empty (DVC warns about empty outputs)
        atomic_write(queue.parent / "README.md", README)
    if not n:
        print("review: review.sample is 0, no excerpts drawn here (`callscribe review --sample 50`, or set review.sample)")
        return
    try:
        excerpts = sample(n, seed, queue, Path("data/output/calls.jsonl"), replace=True)
    except ReviewError as e:
        sys.exit(f"review: {e}")
    print(f"review: {len(excerpts)} excerpts, {sum(e['end'] - e['start'] for e in excerpts) / 60:.1f} min in {queue}")


if __name__ == "__main__":
    main()
