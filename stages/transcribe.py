"""Stage transcribe@<shard>: transcribe the shard's selected calls into data/transcripts/<shard>/,
redacted as they are written (callscribe.folder; the originals only in data/private/<shard>).

The output persists: the journal skips calls already done with the same audio and settings,
so an interrupted run resumes where it stopped. Exit status as the CLI's (callscribe.runner).
"""

import sys
import time
from pathlib import Path

from callscribe import params, plots
from callscribe.calls import Job
from callscribe.fileio import read_jsonl
from callscribe.folder import PRIVATE_NOTE
from callscribe.runner import transcribe_folder


def main():
    started = time.perf_counter()
    shard = sys.argv[1]
    p = params.load()
    # data/transcripts/<shard> is pushed: it gets masked text only. The originals (redact.keep_unredacted)
    # go to data/private/<shard>: git-ignored and no DVC output, so neither the cache nor a remote holds them.
    private = Path("data/private") / shard
    private.mkdir(parents=True, exist_ok=True)
    (private / PRIVATE_NOTE[0]).write_text(PRIVATE_NOTE[1], encoding="utf-8")

    def jobs():
        return [Job(r["id"], r["path"], r["sha256"], r["duration"]) for r in read_jsonl(f"data/selected/{shard}.jsonl")]

    code, _ = transcribe_folder(jobs, f"data/transcripts/{shard}", p["transcribe"], p.get("redact") or {}, name=f"transcribe@{shard}",
                                private=private, resume_hint="`dvc repro` resumes")
    if code:
        sys.exit(code)
    plots.record_time(f"transcribe@{shard}", started)


if __name__ == "__main__":
    main()
