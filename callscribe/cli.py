"""`callscribe transcribe INPUT... -o OUT`: the pipeline's engine, records and resume rules for ad-hoc folders."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from callscribe import compare, plan, review, search, web
from callscribe.outputs import FORMATS, OutputError


class CliError(Exception):
    """A setting, format or model that cannot work here; the message says what to do, alone."""


# Heavy modules (numpy, the model) are imported inside main, so a Ctrl-C at any moment gets a clean exit.
INPUT_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".m4a"}


def _found(p: Path, out: Path) -> list[tuple[Path, Path]]:
    """(audio file, its id's path) under the folder or file `p`; zips (as the pipeline's extract stage takes
    them) are unpacked into OUT/audio/<zip name>/ first, and their WAVs are ids under the zip's name."""
    from callscribe.archive import ArchiveError, archive_stem, extract_zip, is_junk

    if p.is_file() and p.suffix.lower() != ".zip":
        return [(p, Path(p.name))]
    zips = [p] if p.is_file() else [f for f in sorted(p.rglob("*.zip")) if f.is_file() and not is_junk(f.relative_to(p).as_posix())]
    found = [] if p.is_file() else [(f, f.relative_to(p)) for f in sorted(p.rglob("*"))
                                    if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES and not is_junk(f.relative_to(p).as_posix())]
    for z in zips:
        rel = Path(z.name) if z == p else z.relative_to(p)
        target = out / "audio" / rel.parent / archive_stem(rel)
        try:
            report = extract_zip(z, target)
        except ArchiveError as e:
            raise CliError(str(e)) from None
        except OSError as e:
            raise CliError(f"cannot unpack {z} into {target}: {e.strerror or e}") from None
        names = report.extracted + report.unchanged
        print(f"callscribe: {z}: {len(names)} WAV file(s) unpacked into {target}"
              + (f", {len(report.skipped)} member(s) left out ({report.skipped[0][1]}, ...)" if report.skipped else ""), file=sys.stderr)
        found += [(target / n, rel.parent / archive_stem(rel) / n) for n in names]
    return found


def collect_jobs(inputs: list[str], out: Path) -> list:
    """Files as given, audio under folders, and the WAVs in zips; ids are paths relative to the folder
    given. macOS metadata (`__MACOSX/`, `._*`) is left out; the same name under two folders given gets
    the second folder's name in front."""
    import soundfile as sf

    from callscribe.calls import Job
    from callscribe.profile import sha256_file

    jobs, seen = [], {}
    for i, arg in enumerate(inputs):
        p = Path(arg)
        if not p.exists():
            raise CliError(f"{arg}: no such file or folder")
        found = _found(p, out)
        if not found:
            raise CliError(f"{arg}: no audio in it ({', '.join(sorted(INPUT_SUFFIXES))}, or WAVs in a .zip); "
                           "give the folder or files that hold the calls")
        for path, rel in found:
            key = rel.with_suffix("").as_posix()
            if key in seen:
                key = rel.as_posix() if seen[key] == i else f"{(p if p.is_dir() else p.parent).resolve().name}/{key}"
            if key in seen:
                raise CliError(f"{path}: its id {key!r} is already taken by another input; give the folders one by one")
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
    from dataclasses import fields

    from callscribe.fileio import write_json, write_jsonl
    from callscribe.folder import ShardFolder, call_row
    from callscribe.outputs import check_formats, output_error
    from callscribe.records import ERROR
    from callscribe.runner import transcribe_folder
    from callscribe.settings import TranscribeSettings

    # Options left out take the settings' defaults (params.yaml's); those given override by field name.
    given = {f.name: getattr(args, f.name) for f in fields(TranscribeSettings) if getattr(args, f.name, None) is not None}
    try:  # formats are checked before any work: a typo costs nothing
        formats = check_formats(args.formats.split(","))
    except ValueError as e:
        raise CliError(str(e)) from None
    out = Path(args.output)
    redact = None
    if args.redact:  # each call is masked as it is written: raw text never sits in OUT (the originals: OUT/unredacted/)
        redact = {"enabled": True, "kinds": args.redact, "mask": args.redact_mask, "keep_unredacted": args.keep_unredacted,
                  "audio": args.redact_audio}
    jobs: list = []

    def collect() -> list:
        jobs.extend(collect_jobs(args.inputs, out))
        return jobs

    code, summary = transcribe_folder(collect, out, given, redact, name="callscribe", private=out / "unredacted", formats=formats,
                                      resume=args.resume, resume_hint="rerun with --resume to go on",
                                      info=sys.stderr, done_note=" (--resume)")
    if summary is None:
        return code
    folder = ShardFolder(out, formats)
    rows = {call_id: (e, t) for call_id, e, t in folder.transcripts([j.id for j in jobs])}
    redactions = {}
    if args.redact:
        from callscribe.redact import RedactSettings, Tally, bleep_copy

        rs = RedactSettings.from_params(redact)
        tally = Tally(rs)
        for job in jobs:
            e, t = rows[job.id]
            if t is not None:
                if args.redact_audio:
                    bleep_copy(t, rs, job.path, out / "redacted_audio" / f"{job.id}.wav")
                redactions[job.id] = tally.add(e.get("redactions"))
        totals = tally.metrics()
        write_json(out / "redactions.json", totals)
        print(f"callscribe: redacted {totals['by_kind']}", file=sys.stderr)
    if args.manifest:
        manifest = []
        for job in jobs:
            e, t = rows[job.id]
            manifest.append({"id": job.id, "path": job.path, "sha256": job.sha256, "duration": (e or {}).get("audio_seconds"),
                             **call_row(e, t, redactions.get(job.id, {}) if args.redact else None)})
        try:
            write_jsonl(out / "manifest.jsonl", manifest)
        except OSError as e:
            raise output_error(out, e) from e
    failed = [j for j in jobs if (rows[j.id][0] or {}).get("status") == ERROR]
    for j in failed:
        print(f"callscribe: error: {rows[j.id][0]['reason']}", file=sys.stderr)
    return 1 if failed else 0


def cmd_shards(args) -> int:
    """The pipeline's shards and the calls in each; with --propose, the shard lines that the
    profiled calls lacking one need (one per month), to paste under `shards:` in params.yaml."""
    from callscribe import params
    from callscribe.fileio import read_jsonl
    from callscribe.selection import FilterParams, choose, propose_shards, shard_lines

    try:
        p, rows = params.load(args.params), read_jsonl(args.profile)
    except OSError as e:
        raise SystemExit(f"callscribe: {e.filename}: {e.strerror}; run it in the project folder after `dvc repro profile`")
    sel = choose(rows, p.get("shards") or {}, FilterParams(**(p.get("filter") or {})))
    dates = sorted({r["date"] for r in sel.unsharded})
    if args.propose:
        print(shard_lines(propose_shards(dates, p.get("shards") or {})), end="")
    else:
        for name, kept in sel.shards.items():
            print(f"{name}: {len(kept)} calls")
    if dates and not args.propose:
        print(f"{len(sel.unsharded)} calls in no shard ({dates[0]} .. {dates[-1]}): `callscribe shards --propose`")
    return 0


def cmd_prune(args) -> int:
    """Trim the transcripts kept for earlier settings (callscribe.store) to the last --keep settings used."""
    from callscribe.store import Store

    for folder in args.folders:
        removed = Store(folder).prune(args.keep)
        print(f"callscribe: {folder}: removed the transcripts of {len(removed)} earlier settings, kept the last {args.keep}")
    return 0


def models(value: str) -> str | dict:
    """`--model small`, or one model per engine (a Ray cluster whose nodes run different engines)."""
    if "=" not in value:
        return value
    return {k.strip(): v.strip() for k, _, v in (part.partition("=") for part in value.split(","))}


def bare_redact(argv: list[str]) -> list[str]:
    """`--redact FOLDER`: a bare --redact (all kinds) before an input, not the input taken as the kinds."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg == "--redact" and Path(out[i + 1]).exists():
            out[i] = "--redact=all"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callscribe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("transcribe", help="transcribe files or folders")
    t.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched recursively)")
    t.add_argument("-o", "--output", required=True, help="output folder: <id>.<format> per file and journal.jsonl")
    t.add_argument("--manifest", action="store_true", help="also write OUT/manifest.jsonl: one line per input with status and text")
    t.add_argument("--resume", action="store_true", help="skip files the journal has done with the same audio and settings")
    # Settings options default to None, "not given": the settings' own defaults then apply (params.yaml's).
    t.add_argument("--timestamps", action=argparse.BooleanOptionalAction, help="word-level timestamps (default on)")
    t.add_argument("--formats", default="json,txt",
                   help=f"comma-separated, from {','.join(FORMATS)} (default json,txt; rttm is also written for every diarized file)")
    t.add_argument("--engine", help="auto (default), faster-whisper or mlx-qwen3-asr")
    t.add_argument("--model", type=models, help="auto (default), base or tiny.en (bundled), a local model folder or a hub id; "
                   "or one per engine for a Ray cluster: faster-whisper=small,mlx-qwen3-asr=~/qwen")
    t.add_argument("--compute-type", help="int8 (default), float16, ...; mlx-qwen3-asr also int4")
    t.add_argument("--aligner", help="mlx-qwen3-asr's forced aligner for word times: a local folder or a hub id")
    t.add_argument("--workers", type=int, help="worker processes (default: one per CPU core)")
    t.add_argument("--cluster", help="local (default), ray (the Ray cluster joined, or RAY_ADDRESS) or ray://HOST:PORT")
    t.add_argument("--language", help="language code, or auto to detect (default en)")
    t.add_argument("--beam-size", type=int, help="beam search width (default 2; 1 = greedy)")
    t.add_argument("--diarize", action=argparse.BooleanOptionalAction,
                   help="who said what: stereo files by channel, mono files by speaker turns (default on)")
    t.add_argument("--speakers", help="speakers in a mono file: a number, or auto (default: estimated, 1 to 8)")
    t.add_argument("--channel-names", type=lambda s: [n.strip() for n in s.split(",")],
                   help="names of stereo channels in order (default agent,caller)")
    t.add_argument("--no-vad", dest="vad", action="store_false", default=None, help="decode non-speech too (slower)")
    t.add_argument("--redact", nargs="?", const="all", default=None, metavar="KINDS",
                   help="mask personal data in every output: all kinds, or some of card,ssn,dob,policy,phone,email,address")
    t.add_argument("--redact-mask", default="label", help="with --redact: label ([CARD], default) or one character, e.g. '#'")
    t.add_argument("--keep-unredacted", action="store_true", help="with --redact: keep the originals in OUT/unredacted/ (keep it private)")
    t.add_argument("--redact-audio", action="store_true", help="with --redact: OUT/redacted_audio/<id>.wav, the masked spans bleeped")
    sh = sub.add_parser("shards", help="the date-range shards of params.yaml; --propose prints the ones missing")
    sh.add_argument("--propose", action="store_true", help="print shard lines (one per month) for calls no shard covers")
    sh.add_argument("--params", default="params.yaml")
    sh.add_argument("--profile", default="data/profile.jsonl")
    pr = sub.add_parser("prune", help="trim the transcripts kept for earlier settings (OUT/store/) to the last N settings")
    pr.add_argument("folders", nargs="+", metavar="FOLDER", help="output folders, e.g. data/transcripts/2025-09a")
    pr.add_argument("--keep", type=int, default=1, help="settings to keep, most recently used first (default 1: only the latest)")
    compare.add_parser(sub)
    search.add_parser(sub)
    plan.add_parser(sub)
    web.add_parser(sub)
    review.add_parser(sub)
    args = parser.parse_args(bare_redact(sys.argv[1:] if argv is None else argv))
    if hasattr(args, "run"):  # compare, search, plan, serve, review
        return args.run(args)
    if args.command == "shards":
        return cmd_shards(args)
    if args.command == "prune":
        return cmd_prune(args)
    try:
        return cmd_transcribe(args)
    except KeyboardInterrupt:
        print("\ncallscribe: interrupted; finished calls are saved, rerun with --resume to go on", file=sys.stderr)
        return 130
    except (OutputError, CliError) as e:  # the message says what to do; a traceback would bury it
        print(f"callscribe: error: {e}", file=sys.stderr)
        return 2
    finally:
        # Everything is written: a Ctrl-C while the interpreter shuts down (which puts back the default
        # handler) would only turn the exit status into "killed by SIGINT", hiding the real one.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
