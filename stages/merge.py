"""Stage merge: all shards -> data/output/calls.jsonl, per-call files, metrics/transcribe.json."""

from pathlib import Path

from callscribe import params
from callscribe.fileio import read_jsonl, write_json, write_jsonl
from callscribe.merge import merge


def main():
    p = params.load()
    profile = read_jsonl("data/profile.jsonl")
    selected = {shard: read_jsonl(f"data/selected/{shard}.jsonl") for shard in p["shards"]}
    dropped = {r["id"]: r["reason"] for r in read_jsonl("data/filtered_out.jsonl")}
    rows, metrics = merge(profile, selected, dropped, Path("data/transcripts"), Path("data/output"), p["merge"]["formats"])
    write_jsonl("data/output/calls.jsonl", rows)
    write_json("metrics/transcribe.json", metrics)
    print(f"merge: {metrics['by_status']}")


if __name__ == "__main__":
    main()
