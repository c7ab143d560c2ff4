"""Stage transcribe@<shard>: transcribe the shard's selected calls into data/transcripts/<shard>/.

The output persists: the journal skips calls already done with the same audio and settings,
so an interrupted run resumes where it stopped.
"""

import sys

from callscribe import params
from callscribe.calls import Job
from callscribe.fileio import read_jsonl
from callscribe.outputs import OutputError
from callscribe.runner import run
from callscribe.settings import TranscribeSettings


def main():
    shard = sys.argv[1]
    settings = TranscribeSettings.from_params(params.load()["transcribe"])
    jobs = [Job(r["id"], r["path"], r["sha256"], r["duration"]) for r in read_jsonl(f"data/selected/{shard}.jsonl")]
    print(f"transcribe@{shard}: {len(jobs)} calls, {sum(j.duration for j in jobs) / 3600:.2f} h; "
          f"{settings.engine} {settings.model}, {settings.workers} worker(s)", flush=True)
    try:
        summary = run(jobs, f"data/transcripts/{shard}", settings, desc=f"transcribe@{shard}")
    except KeyboardInterrupt:
        sys.exit("transcribe: interrupted; finished calls are saved, `dvc repro` resumes")
    except OutputError as e:
        sys.exit(f"transcribe@{shard}: {e}")
    print(f"transcribe@{shard}: {dict(summary.counts)} written, {summary.skipped} already done")


if __name__ == "__main__":
    main()
