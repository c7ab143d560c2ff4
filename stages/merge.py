"""Stage merge: all shards -> data/output/calls.jsonl, per-call files, metrics/transcribe.json.

The outputs persist (dvc.yaml), so that they stay as they were when this merge is refused: the per-call
files are written to a folder beside them first, and take their place only when the new calls.jsonl
loses no call's text (callscribe.emptier).
"""

import os
import shutil
import sys
import time
from pathlib import Path

from callscribe import emptier, params, plots
from callscribe.fileio import read_jsonl, write_json, write_jsonl
from callscribe.merge import MissingShard, merge
from callscribe.redact import RedactSettings, Tally

OUT = Path("data/output")
NEW = OUT / ".merging"  # the new per-call files, until they replace the old
FOLDERS = ("transcripts", "audio")  # DVC outputs even when empty; audio: redact.audio's bleeped copies


def main():
    started = time.perf_counter()
    p = params.load()
    profile = read_jsonl("data/profile.jsonl")
    selected = {shard: read_jsonl(f"data/selected/{shard}.jsonl") for shard in p["shards"]}
    out = read_jsonl("data/filtered_out.jsonl")
    dropped = {r["id"]: r["reason"] for r in out}
    duplicate_of = {r["id"]: r["duplicate_of"] for r in out if r.get("duplicate_of")}
    settings = RedactSettings.from_params(p["redact"])
    shutil.rmtree(NEW, ignore_errors=True)  # left by a merge that was killed
    for name in FOLDERS:
        (NEW / name).mkdir(parents=True)
    # Never an empty folder, of which DVC warns on every run.
    (NEW / "audio" / "README.txt").write_text("redact.audio: true puts a copy of each call here, the masked spans bleeped.\n",
                                              encoding="utf-8")
    # The transcribe stage masked the text; here each row gets the counts, and the audio copies are made.
    redactor = Tally(settings) if settings.enabled else None
    try:
        rows, metrics = merge(profile, selected, dropped, Path("data/transcripts"), NEW, p["merge"]["formats"],
                              duplicate_of, redactor, NEW / "audio")
        emptier.check(emptier.texts_in_calls(OUT / "calls.jsonl"), rows, "merge", OUT / "calls.jsonl")
    except (MissingShard, emptier.Emptier) as e:
        shutil.rmtree(NEW)
        sys.exit(f"merge: {e}" if isinstance(e, MissingShard) else str(e))
    for name in FOLDERS:
        if (OUT / name).exists():
            os.replace(OUT / name, NEW / f"old-{name}")
        os.replace(NEW / name, OUT / name)
    shutil.rmtree(NEW)
    write_jsonl(OUT / "calls.jsonl", rows)
    write_json("metrics/transcribe.json", metrics)
    write_json("metrics/redact.json", redactor.metrics() if redactor else {"enabled": False})
    print(f"merge: {metrics['by_status']}")
    plots.record_time("merge", started)


if __name__ == "__main__":
    main()
