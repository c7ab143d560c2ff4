"""Stage merge: all shards -> data/output/calls.jsonl, per-call files, metrics/transcribe.json."""

from pathlib import Path

from callscribe import params
from callscribe.fileio import read_jsonl, write_json, write_jsonl
from callscribe.merge import merge
from callscribe.redact import Redactor, RedactSettings


def main():
    p = params.load()
    profile = read_jsonl("data/profile.jsonl")
    selected = {shard: read_jsonl(f"data/selected/{shard}.jsonl") for shard in p["shards"]}
    dropped = {r["id"]: r["reason"] for r in read_jsonl("data/filtered_out.jsonl")}
    settings = RedactSettings.from_params(p.get("redact"))
    # data/private (DVC: push: false) holds the unredacted transcripts when redact.keep_unredacted is on.
    Path("data/private").mkdir(parents=True, exist_ok=True)
    Path("data/output/audio").mkdir(parents=True, exist_ok=True)  # a DVC output even when empty
    redactor = Redactor(settings, Path("data/private/transcripts"), Path("data/output/audio")) if settings.enabled else None
    rows, metrics = merge(profile, selected, dropped, Path("data/transcripts"), Path("data/output"), p["merge"]["formats"], redactor)
    write_jsonl("data/output/calls.jsonl", rows)
    write_json("metrics/transcribe.json", metrics)
    write_json("metrics/redact.json", redactor.metrics() if redactor else {"enabled": False})
    print(f"merge: {metrics['by_status']}")


if __name__ == "__main__":
    main()
