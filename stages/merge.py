"""Stage merge: all shards -> data/output/calls.jsonl, per-call files, metrics/transcribe.json."""

from pathlib import Path

from callscribe import params
from callscribe.merge import merge
from callscribe.redact import Redactor, RedactSettings


def main():
    p = params.load()
    profile = params.read_jsonl("data/profile.jsonl")
    selected = {shard: params.read_jsonl(f"data/selected/{shard}.jsonl") for shard in p["shards"]}
    dropped = {r["id"]: r["reason"] for r in params.read_jsonl("data/filtered_out.jsonl")}
    settings = RedactSettings.from_params(p.get("redact"))
    # data/private (DVC: push: false) holds the unredacted transcripts when redact.keep_unredacted is on.
    Path("data/private").mkdir(parents=True, exist_ok=True)
    redactor = Redactor(settings, Path("data/private/transcripts"), Path("data/output/audio")) if settings.enabled else None
    rows, metrics = merge(profile, selected, dropped, Path("data/transcripts"), Path("data/output"), p["merge"]["formats"], redactor)
    params.write_jsonl("data/output/calls.jsonl", rows)
    params.write_json("metrics/transcribe.json", metrics)
    params.write_json("metrics/redact.json", redactor.metrics() if redactor else {"enabled": False})
    print(f"merge: {metrics['by_status']}")


if __name__ == "__main__":
    main()
