"""Stage index: data/output/calls.jsonl and the JSON transcripts -> data/output/calls.db (docs/INDEX.md)."""

from callscribe import params
from callscribe.index import build


def main():
    params.load()  # every stage checks params.yaml first: a typo stops the run before it replaces anything
    stats = build("data/output/calls.jsonl", "data/output/calls.db", "data")
    print(f"index: {stats.calls} calls ({stats.added} added, {stats.replaced} replaced, {stats.deleted} deleted, "
          f"{stats.unchanged} unchanged), {stats.segments} segments")


if __name__ == "__main__":
    main()
