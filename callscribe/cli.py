"""`callscribe transcribe INPUT... -o OUT`: the pipeline's engine, records and resume rules for ad-hoc folders."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from callscribe.outputs import FORMATS, atomic_write
from callscribe.profile import AUDIO_SUFFIXES, find_audio, sha256_file
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import Job, run

INPUT_SUFFIXES = AUDIO_SUFFIXES | {".flac", ".mp3", ".ogg", ".m4a"}


def collect_jobs(inputs: list[str]) -> list[Job]:
    """Files as given, and audio under folders; ids are paths relative to the folder given."""
    import soundfile as sf

    jobs, seen = [], set()
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            found = [(f, f.relative_to(p)) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES]
        elif p.is_file():
            found = [(p, Path(p.name))]
        else:
            raise SystemExit(f"callscribe: {arg}: no such file or folder")
        for path, rel in found:
            key = rel.with_suffix("").as_posix()
            if key in seen:
                key = rel.as_posix()  # a.wav and a.flac side by side
            seen.add(key)
            try:
                duration = sf.info(str(path)).duration
            except Exception:  # noqa: BLE001 - unreadable files get their error record from the run
                duration = 0.0
            jobs.append(Job(key, str(path), sha256_file(path), duration))
    return jobs


def cmd_transcribe(args) -> int:
    params = {"engine": args.engine, "model": args.model, "timestamps": args.timestamps, "vad": not args.no_vad,
              "language": args.language, "beam_size": args.beam_size, "diarize": args.diarize, "speakers": args.speakers}
    if args.channel_names:
        params["channel_names"] = [n.strip() for n in args.channel_names.split(",")]
    if args.workers is not None:
        params["workers"] = args.workers
    settings = TranscribeSettings.from_params(params)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    jobs = collect_jobs(args.inputs)
    out = Path(args.output)
    print(f"callscribe: {len(jobs)} files, {sum(j.duration for j in jobs) / 3600:.2f} h; {settings.engine} {settings.model}, "
          f"{settings.workers} worker(s)", file=sys.stderr)
    try:
        summary = run(jobs, out, settings, resume=args.resume, formats=formats)
    except KeyboardInterrupt:
        print("callscribe: interrupted; finished files are saved, rerun with --resume to go on", file=sys.stderr)
        return 130
    print(f"callscribe: {dict(summary.counts)} written, {summary.skipped} already done (--resume)", file=sys.stderr)
    from callscribe.journal import Journal

    entries = Journal(out / "journal.jsonl").entries()
    if args.manifest:
        rows = []
        for job in jobs:
            e = entries.get(job.id, {})
            text = None
            if e.get("json"):
                text = json.loads((out / e["json"]).read_text(encoding="utf-8"))["text"]
            rows.append({"id": job.id, "path": job.path, "sha256": job.sha256, "status": e.get("status"), "reason": e.get("reason"),
                         "duration": e.get("audio_seconds"), "warnings": e.get("warnings"), "text": text})
        atomic_write(out / "manifest.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    failed = [j for j in jobs if entries.get(j.id, {}).get("status") == "error"]
    for j in failed:
        print(f"callscribe: error: {entries[j.id]['reason']}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callscribe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("transcribe", help="transcribe files or folders")
    t.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched recursively)")
    t.add_argument("-o", "--output", required=True, help="output folder: <id>.<format> per file and journal.jsonl")
    t.add_argument("--manifest", action="store_true", help="also write OUT/manifest.jsonl: one line per input with status and text")
    t.add_argument("--resume", action="store_true", help="skip files the journal has done with the same audio and settings")
    t.add_argument("--timestamps", action=argparse.BooleanOptionalAction, default=True, help="word-level timestamps (default on)")
    t.add_argument("--formats", default="json,txt", help=f"comma-separated, from {','.join(FORMATS)} (default json,txt)")
    t.add_argument("--engine", default="auto", help="auto, faster-whisper or mlx-qwen3-asr")
    t.add_argument("--model", default="auto", help="auto, base (bundled), a local model folder or a hub id")
    t.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU core)")
    t.add_argument("--language", default="en", help="language code, or auto to detect")
    t.add_argument("--beam-size", type=int, default=5)
    t.add_argument("--diarize", action=argparse.BooleanOptionalAction, default=True,
                   help="who said what: stereo files by channel, mono files by speaker turns (default on)")
    t.add_argument("--speakers", default="2", help="speakers in a mono file, or auto (default 2)")
    t.add_argument("--channel-names", default=None, help="names of stereo channels in order (default agent,caller)")
    t.add_argument("--no-vad", action="store_true", help="decode non-speech too (slower)")
    args = parser.parse_args(argv)
    return cmd_transcribe(args)


if __name__ == "__main__":
    sys.exit(main())
