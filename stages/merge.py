"""Stage merge: all shards -> data/output/calls.jsonl, per-call files, metrics/transcribe.json."""

from pathlib import Path

from callscribe import params
from callscribe.merge import merge


def main():
    p = params.load()
    profile = params.read_jsonl("data/profile.jsonl")
    selected = {shard: params.read_jsonl(f"data/selected/{shard}.jsonl") for shard in p["shards"]}
    dropped = {r["id"]: r["reason"] for r in params.read_jsonl("data/filtered_out.jsonl")}
    rows, metrics = merge(profile, selected, dropped, Path("data/transcripts"), Path("data/output"), p["merge"]["formats"])
    params.write_jsonl("data/output/calls.jsonl", rows)
    params.write_json("metrics/transcribe.json", metrics)
    print(f"merge: {metrics['by_status']}")


if __name__ == "__main__":
    main()
