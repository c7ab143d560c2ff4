"""Stage index: data/output/calls.jsonl and the JSON transcripts -> data/output/calls.db (docs/INDEX.md)."""

from callscribe.index import build


def main():
    stats = build("data/output/calls.jsonl", "data/output/calls.db", "data")
    print(f"index: {stats.calls} calls ({stats.added} added, {stats.replaced} replaced, {stats.deleted} deleted, "
          f"{stats.unchanged} unchanged), {stats.segments} segments")


if __name__ == "__main__":
    main()
