"""Stage merge: all shards -> data/output/calls.jsonl, per-call files, metrics/transcribe.json."""

import sys
import time
from pathlib import Path

from callscribe import params, plots
from callscribe.fileio import read_jsonl, write_json, write_jsonl
from callscribe.merge import MissingShard, merge
from callscribe.redact import RedactSettings, Tally


def main():
    started = time.perf_counter()
    p = params.load()
    profile = read_jsonl("data/profile.jsonl")
    selected = {shard: read_jsonl(f"data/selected/{shard}.jsonl") for shard in p["shards"]}
    out = read_jsonl("data/filtered_out.jsonl")
    dropped = {r["id"]: r["reason"] for r in out}
    duplicate_of = {r["id"]: r["duplicate_of"] for r in out if r.get("duplicate_of")}
    try:
        settings = RedactSettings.from_params(p.get("redact"))
    except ValueError as e:
        sys.exit(f"merge: {e}")
    Path("data/output/audio").mkdir(parents=True, exist_ok=True)  # a DVC output, never empty (DVC warns of those on every run)
    Path("data/output/audio/README.txt").write_text("redact.audio: true puts a copy of each call here, the masked spans bleeped.\n",
                                                    encoding="utf-8")
    # The transcribe stage masked the text; here each row gets the counts, and the audio copies are made.
    redactor = Tally(settings, Path("data/output/audio")) if settings.enabled else None
    try:
        rows, metrics = merge(profile, selected, dropped, Path("data/transcripts"), Path("data/output"), p["merge"]["formats"],
                              duplicate_of, redactor)
    except MissingShard as e:
        sys.exit(f"merge: {e}")
    write_jsonl("data/output/calls.jsonl", rows)
    write_json("metrics/transcribe.json", metrics)
    write_json("metrics/redact.json", redactor.metrics() if redactor else {"enabled": False})
    print(f"merge: {metrics['by_status']}")
    plots.record_time("merge", started)


if __name__ == "__main__":
    main()
