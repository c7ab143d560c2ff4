"""Stage index: data/output/calls.jsonl and the JSON transcripts -> data/output/calls.db (docs/INDEX.md)."""

import sys

from callscribe import emptier, params
from callscribe.fileio import read_jsonl
from callscribe.index import build

CALLS, DB = "data/output/calls.jsonl", "data/output/calls.db"


def main():
    params.load()  # every stage checks params.yaml first: a typo stops the run before it replaces anything
    try:  # the index keeps its text when calls.jsonl lost some to failed or missing transcripts
        emptier.check(emptier.texts_in_index(DB), read_jsonl(CALLS), "index", DB)
    except emptier.Emptier as e:
        sys.exit(str(e))
    stats = build(CALLS, DB, "data")
    print(f"index: {stats.calls} calls ({stats.added} added, {stats.replaced} replaced, {stats.deleted} deleted, "
          f"{stats.unchanged} unchanged), {stats.segments} segments")


if __name__ == "__main__":
    main()
