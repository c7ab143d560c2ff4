"""`callscribe transcribe INPUT... -o OUT`: the pipeline's engine, records and resume rules for ad-hoc folders."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from callscribe.outputs import FORMATS, OutputError

# Heavy modules (numpy, the model) are imported inside main, so a Ctrl-C at any moment gets a clean exit.
INPUT_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".m4a"}


def collect_jobs(inputs: list[str]) -> list:
    """Files as given, and audio under folders; ids are paths relative to the folder given.
    macOS metadata (`__MACOSX/`, `._*`) is left out; the same name under two folders given gets
    the second folder's name in front."""
    import soundfile as sf

    from callscribe.archive import is_junk
    from callscribe.profile import sha256_file
    from callscribe.transcribe import Job

    jobs, seen = [], {}
    for i, arg in enumerate(inputs):
        p = Path(arg)
        if p.is_dir():
            found = [(f, f.relative_to(p)) for f in sorted(p.rglob("*"))
                     if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES and not is_junk(f.relative_to(p).as_posix())]
        elif p.is_file():
            found = [(p, Path(p.name))]
        else:
            raise SystemExit(f"callscribe: {arg}: no such file or folder")
        for path, rel in found:
            key = rel.with_suffix("").as_posix()
            if key in seen:
                key = rel.as_posix() if seen[key] == i else f"{(p if p.is_dir() else p.parent).resolve().name}/{key}"
            if key in seen:
                raise SystemExit(f"callscribe: {path}: its id {key!r} is already taken by another input; give the folders one by one")
            seen[key] = i
            try:
                duration = sf.info(str(path)).duration
            except Exception:  # noqa: BLE001 - unreadable files get their error record from the run
                duration = 0.0
            try:
                sha = sha256_file(path)
            except OSError:  # unreadable (permissions): the run gives it an error record that says why
                sha = ""
            jobs.append(Job(key, str(path), sha, duration))
    return jobs


def cmd_transcribe(args) -> int:
    from callscribe.journal import Journal
    from callscribe.outputs import atomic_write, output_error
    from callscribe.settings import TranscribeSettings
    from callscribe.transcribe import run

    params = {"engine": args.engine, "model": args.model, "timestamps": args.timestamps, "vad": not args.no_vad,
              "language": args.language, "diarize": args.diarize, "speakers": args.speakers}
    if args.channel_names:
        params["channel_names"] = [n.strip() for n in args.channel_names.split(",")]
    if args.workers is not None:
        params["workers"] = args.workers
    if args.beam_size is not None:
        params["beam_size"] = args.beam_size
    if args.compute_type is not None:
        params["compute_type"] = args.compute_type
    if args.aligner is not None:
        params["aligner"] = args.aligner
    settings = TranscribeSettings.from_params(params)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    jobs = collect_jobs(args.inputs)
    out = Path(args.output)
    print(f"callscribe: {len(jobs)} files, {sum(j.duration for j in jobs) / 3600:.2f} h; {settings.engine} {settings.model}, "
          f"{settings.workers} worker(s)", file=sys.stderr)
    summary = run(jobs, out, settings, resume=args.resume, formats=formats)
    print(f"callscribe: {dict(summary.counts)} written, {summary.skipped} already done (--resume)", file=sys.stderr)
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
        try:
            atomic_write(out / "manifest.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        except OSError as e:
            raise output_error(out, e) from e
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
    t.add_argument("--compute-type", help="int8 (default), float16, ...; mlx-qwen3-asr also int4")
    t.add_argument("--aligner", help="mlx-qwen3-asr's forced aligner for word times: a local folder or a hub id")
    t.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU core)")
    t.add_argument("--language", default="en", help="language code, or auto to detect")
    t.add_argument("--beam-size", type=int, default=None, help="beam search width (default 2; 1 = greedy)")
    t.add_argument("--diarize", action=argparse.BooleanOptionalAction, default=True,
                   help="who said what: stereo files by channel, mono files by speaker turns (default on)")
    t.add_argument("--speakers", default="2", help="speakers in a mono file, or auto (default 2)")
    t.add_argument("--channel-names", default=None, help="names of stereo channels in order (default agent,caller)")
    t.add_argument("--no-vad", action="store_true", help="decode non-speech too (slower)")
    args = parser.parse_args(argv)
    try:
        return cmd_transcribe(args)
    except KeyboardInterrupt:
        print("\ncallscribe: interrupted; finished files are saved, rerun with --resume to go on", file=sys.stderr)
        return 130
    except OutputError as e:
        print(f"callscribe: error: {e}", file=sys.stderr)
        return 2
    finally:
        # Everything is written: a Ctrl-C while the interpreter shuts down (which puts back the default
        # handler) would only turn the exit status into "killed by SIGINT", hiding the real one.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
