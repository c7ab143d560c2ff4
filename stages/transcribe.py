"""Stage transcribe@<shard>: transcribe the shard's selected calls into data/transcripts/<shard>/,
redacted as they are written (callscribe.privacy; the originals only in data/private/<shard>).

The output persists: the journal skips calls already done with the same audio and settings,
so an interrupted run resumes where it stopped.
"""

import sys
import time
from pathlib import Path

from callscribe import params, plots
from callscribe.calls import Job
from callscribe.cluster import ClusterError, exit_now
from callscribe.fileio import read_jsonl
from callscribe.models import ModelError, check_model
from callscribe.outputs import OutputError
from callscribe.privacy import Masker
from callscribe.redact import RedactSettings
from callscribe.runner import run
from callscribe.settings import TranscribeSettings


def main():
    started = time.perf_counter()
    shard = sys.argv[1]
    p = params.load()
    settings = TranscribeSettings.from_params(p["transcribe"])
    try:
        check_model(settings)  # a name that cannot load here stops now, not in every worker
        redaction = RedactSettings.from_params(p.get("redact"))
    except (ModelError, ValueError) as e:
        sys.exit(f"transcribe@{shard}: {e}")
    # data/transcripts/<shard> is pushed: it gets masked text only. The originals (redact.keep_unredacted)
    # go to data/private/<shard>, a DVC output with push: false (made even when empty).
    private = Path("data/private") / shard
    private.mkdir(parents=True, exist_ok=True)
    jobs = [Job(r["id"], r["path"], r["sha256"], r["duration"]) for r in read_jsonl(f"data/selected/{shard}.jsonl")]
    engines = " or ".join(f"{s.engine} {s.model}" for s in settings.engine_choices().values())  # per node on a mixed cluster
    print(f"transcribe@{shard}: {len(jobs)} calls, {sum(j.duration for j in jobs) / 3600:.2f} h; "
          f"{engines}, {settings.workers if settings.cluster == 'local' else 'Ray cluster'} worker(s)", flush=True)
    try:
        summary = run(jobs, f"data/transcripts/{shard}", settings, desc=f"transcribe@{shard}", masker=Masker(redaction, private))
    except KeyboardInterrupt:
        sys.exit("transcribe: interrupted; finished calls are saved, `dvc repro` resumes")
    except (OutputError, ModelError, ClusterError) as e:
        print(f"transcribe@{shard}: {e}", file=sys.stderr)
        if isinstance(e, ClusterError):
            exit_now(e, 1)
        sys.exit(1)
    print(f"transcribe@{shard}: {dict(summary.counts)} written ({summary.restored} of them restored from earlier settings, "
          f"not decoded), {summary.skipped} already done")
    if redaction.enabled or summary.remasked:
        print(f"transcribe@{shard}: redaction {summary.redact_seconds:.1f} s"
              + (f"; {summary.remasked} written before masked again for the new redact settings" if summary.remasked else ""))
    plots.record_time(f"transcribe@{shard}", started)


if __name__ == "__main__":
    main()
