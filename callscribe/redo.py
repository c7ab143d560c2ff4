"""What `make repro` found on the DVC remote and what `dvc repro` will transcribe, said before it starts.

    dvc pull --allow-missing 2>&1 | tee pull.log; python -m callscribe.redo --pulled pull.log

DVC names what a remote lacks by md5 only; here each is named by its output in dvc.lock, and the calls
to transcribe are counted per shard: those selected that the shard's journal does not hold as done with
params.yaml's settings (all of a shard whose transcripts are not here).
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

import yaml

from callscribe import params
from callscribe.fileio import read_jsonl
from callscribe.journal import Journal, is_done
from callscribe.settings import TranscribeSettings

MD5 = re.compile(r"^md5: ([0-9a-f]{32}(?:\.dir)?)\s*$", re.MULTILINE)


def lock_outputs(lock: str | Path = "dvc.lock") -> dict[str, str]:
    """md5 -> output path, for every output dvc.lock names."""
    try:
        stages = (yaml.safe_load(Path(lock).read_text(encoding="utf-8")) or {}).get("stages", {})
    except OSError:
        return {}
    return {o["md5"]: o["path"] for s in stages.values() for o in s.get("outs", []) if o.get("md5")}


def missing_on_remote(pull_log: str, lock: str | Path = "dvc.lock") -> list[str]:
    """The outputs of dvc.lock that `dvc pull` found neither in the cache nor on the remote."""
    outs = lock_outputs(lock)
    return sorted({outs.get(md5, f"md5 {md5}") for md5 in MD5.findall(pull_log)})


def to_transcribe(p: dict) -> list[tuple[str, int | None, int]]:
    """(shard, selected calls or None when the selection is not made yet, calls to transcribe) per shard."""
    hashes = TranscribeSettings.from_params(p["transcribe"]).hashes()
    out = []
    for shard in p["shards"]:
        selected = Path(f"data/selected/{shard}.jsonl")
        if not selected.exists():
            out.append((shard, None, 0))
            continue
        rows = read_jsonl(selected)
        done = Journal(f"data/transcripts/{shard}/journal.jsonl").entries()
        out.append((shard, len(rows), sum(not is_done(done.get(r["id"]), r["sha256"], hashes) for r in rows)))
    return out


def wavs(archives: list[str]) -> int:
    """The WAVs the archives hold (zips or folders): an upper bound before the filter has chosen."""
    n = 0
    for a in map(Path, archives):
        if a.is_dir():
            n += sum(1 for f in a.rglob("*") if f.suffix.lower() == ".wav")
        elif zipfile.is_zipfile(a):
            with zipfile.ZipFile(a) as z:
                n += sum(1 for m in z.namelist() if m.lower().endswith(".wav"))
    return n


def report(pull_log: str | None, remote: str | None) -> list[str]:
    lines = []
    if pull_log is not None:
        lacks = missing_on_remote(pull_log)
        if lacks:
            lines.append(f"repro: the remote {remote or ''} lacks {len(lacks)} outputs this commit's dvc.lock names: "
                         f"{', '.join(lacks)}")
            lines.append("repro: they are made again here. Pushed from another commit? On the machine that made them: "
                         "`git commit` (dvc.lock too), then `dvc push`, then `git push`")
        else:
            lines.append(f"repro: the remote {remote or ''} has every output this commit's dvc.lock names")
    p = params.read()
    plan = to_transcribe(p)
    for shard, selected, todo in plan:
        if selected is None:
            lines.append(f"repro: transcribe@{shard}: its calls are chosen by the filter stage first (of up to "
                         f"{wavs(p['extract']['archives'])} WAVs in extract.archives); each not in data/transcripts/{shard} "
                         "is transcribed")
        else:
            lines.append(f"repro: transcribe@{shard}: {todo} of {selected} calls to transcribe"
                         + ("" if todo else " (all done with these settings)"))
    known = [t for _, s, t in plan if s is not None]
    if known and len(known) == len(plan):
        lines.append(f"repro: {sum(known)} calls to transcribe in all")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pulled", help="what `dvc pull` printed")
    ap.add_argument("--remote", help="the remote's name, for the message")
    args = ap.parse_args(argv)
    try:
        lines = report(Path(args.pulled).read_text(encoding="utf-8") if args.pulled else None, args.remote)
    except params.ParamsError as e:
        print(e, file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
