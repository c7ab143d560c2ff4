"""Throughput benchmark: the first script's one-file-at-a-time loop against callscribe's pipeline.

Both run on the same files, model (bundled Whisper base, int8) and machine, one after the other,
each in its own process so that peak memory is its own. Prints audio seconds, wall seconds, speed
(x real time), WER against the references, peak RSS per process, the time spent inside the model,
then per length bucket the speed ratio, WER and deletions, and over all calls the paired bootstrap
interval (bench/bootstrap.py) of each run's WER and deletions against the loop's.

The default set is shaped like a call-centre archive (bench/archive_set.py): most audio in two-party
calls of 1-15 minutes, a tail of short calls, a long one; `--half tuning` to decide a setting on,
`--half check` (the default) to report it.

    python bench/throughput.py                    # the archive-shaped check half
    python bench/throughput.py --half tuning --loop-twice --variant batch_size=1   # the loop's own noise, and a variant
    python bench/throughput.py --mix              # the older mix: samples + ../shared/data/gsm8k clip sets
    python bench/throughput.py --files a.wav b.wav --refs refs.jsonl
    python bench/throughput.py --memory           # also: the pipeline on a 90-minute call
    python bench/throughput.py --skip-baseline --set beam_size=1   # try a setting before making it a default
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLSCRIBE_SHARED", REPO.parent / "shared" / "data"))


# Every kind of speech in ../shared/data/gsm8k, subsampled (seeded) so that one full run of the
# loop and the pipeline stays near ten minutes on two cores. Clips per set: --per-kind.
KINDS = ("samples", "lj_longform", "fsdd_digits", "speechocean762", "timit", "spokenwoz")


def default_set(workdir: Path, per_kind: int = 48, kinds=KINDS) -> list[tuple[str, str, str]]:
    """(path, reference, kind): the samples' labelled calls (LJ and LibriVox clips as calls, jfk,
    the two-speaker and stereo calls), the samples' 5-minute LJ long-form, FSDD digits, accented
    speechocean762, many-speaker TIMIT and the real SpokenWOZ dialogues (mono mixes), all GSM 8 kHz."""
    from callscribe.archive import extract

    files = []
    audio = workdir / "samples"
    extract(sorted((REPO / "samples").glob("*.zip")), audio)
    for lab in map(json.loads, (REPO / "samples" / "labels.jsonl").read_text().splitlines()):
        path = audio / lab["archive"]
        hits = [p for p in path.rglob(lab["file"]) if p.stat().st_size > 1024]
        kind = "lj_longform" if lab.get("duration", 0) > 60 else "samples"
        files += [(str(hits[0]), lab["text"], kind)] if hits else []
    gsm = SHARED / "gsm8k"

    def clips(folder: str, kind: str, n: int) -> list[tuple[str, str, str]]:
        found = [json.loads(line) for line in open(gsm / folder / "manifest.jsonl")]
        picked = random.Random(0).sample(found, min(n, len(found)))
        return [(str(gsm / folder / m["audio"]), m["text"], kind) for m in picked]

    files += clips("fsdd_digits_8k", "fsdd_digits", per_kind // 2)
    files += clips("speechocean762_test_subset", "speechocean762", per_kind)
    files += clips("timit_nltk_sample", "timit", per_kind)
    files += clips("spokenwoz_calls_8k", "spokenwoz", 3)
    return [f for f in files if f[2] in kinds]


def top_level_split(text: str) -> list[str]:
    """`a=1,b=[x, y]` -> ["a=1", "b=[x, y]"]: commas inside brackets or braces stay (YAML lists and maps)."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return parts + [current]


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)  # macOS reports bytes, Linux KiB


def run_baseline(files: list[str], out: Path) -> dict:
    """What the first script did: one process, model loaded once, transcribe(path) file after file."""
    from faster_whisper import WhisperModel

    from callscribe.engines.whisper import _Timed, bundled_files

    t0 = time.perf_counter()
    model = WhisperModel("bundled-base", device="cpu", compute_type="int8", files=bundled_files("base"))
    model.model = _Timed(model.model)
    load = time.perf_counter() - t0
    texts, audio, seconds, cpu = {}, 0.0, {}, {}
    for path in files:
        t1, c1 = time.perf_counter(), _cpu_seconds(resource.RUSAGE_SELF)
        segments, info = model.transcribe(path)
        texts[path] = " ".join(s.text.strip() for s in segments)
        seconds[path], cpu[path] = time.perf_counter() - t1, _cpu_seconds(resource.RUSAGE_SELF) - c1
        audio += info.duration
    wall = time.perf_counter() - t0
    return {"audio_seconds": audio, "wall_seconds": wall, "load_seconds": load, "model_seconds": model.model.seconds,
            "texts": texts, "call_seconds": seconds, "call_cpu_seconds": cpu, "workers": 1,
            "cpu_seconds": _cpu_seconds(resource.RUSAGE_SELF),
            "peak_rss_mb": {"main": peak_rss_mb()}}


def _cpu_seconds(who) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_pipeline(files: list[str], out: Path, overrides: dict | None = None) -> dict:
    """callscribe's transcribe stage with the settings in params.yaml (and any --set overrides)."""
    import soundfile as sf

    from callscribe.calls import Job
    from callscribe.journal import Journal
    from callscribe.profile import sha256_file
    from callscribe.runner import run
    from callscribe.settings import TranscribeSettings

    params = yaml.safe_load((REPO / "params.yaml").read_text())["transcribe"]
    settings = TranscribeSettings.from_params({**params, **(overrides or {})})
    jobs = [Job(f"{i:04d}", p, sha256_file(p), sf.info(p).duration) for i, p in enumerate(files)]
    t0 = time.perf_counter()
    run(jobs, out, settings, progress=False)
    wall = time.perf_counter() - t0
    entries = Journal(out / "journal.jsonl").entries()
    texts, seconds, cpu, statuses = {}, {}, {}, {}
    for job in jobs:
        e = entries[job.id]
        texts[job.path] = json.loads((out / e["json"]).read_text())["text"] if e.get("json") else ""
        seconds[job.path], cpu[job.path], statuses[job.path] = e["wall_seconds"], e.get("cpu_seconds", 0.0), e["status"]
    return {"audio_seconds": sum(e["audio_seconds"] for e in entries.values()), "wall_seconds": wall,
            "call_seconds": seconds, "call_cpu_seconds": cpu, "statuses": statuses, "workers": settings.workers,
            "worker_seconds": sum(e["wall_seconds"] for e in entries.values()),
            "cpu_seconds": sum(e.get("cpu_seconds", 0.0) for e in entries.values()),  # decoding's, in the workers
            "model_seconds": sum(e.get("model_seconds", 0.0) for e in entries.values()),
            "settings": {k: v for k, v in vars(settings).items()}, "texts": texts,
            "peak_mlx_mb": sys.modules["mlx.core"].get_peak_memory() / 2**20 if "mlx.core" in sys.modules else None,  # the GPU's share
            "peak_rss_mb": {"main": peak_rss_mb(), "largest worker": peak_rss_mb(resource.RUSAGE_CHILDREN)}}


def child(kind: str, files_json: str, result_json: str) -> None:
    task = json.loads(Path(files_json).read_text())
    out = Path(result_json).with_suffix("")
    if kind == "baseline":
        result = run_baseline(task["files"], out)
    else:
        result = run_pipeline(task["files"], out, task["set"])
    Path(result_json).write_text(json.dumps(result))


def measure(kind: str, files: list[str], workdir: Path, overrides: dict | None = None, name: str | None = None) -> dict:
    name = name or kind
    files_json, result_json = workdir / f"{name}-files.json", workdir / f"{name}.json"
    files_json.write_text(json.dumps({"files": files, "set": overrides or {}}))
    print(f"running {name} on {len(files)} files...", flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, __file__, "--child", kind, str(files_json), str(result_json)], check=True, env=env)
    return json.loads(result_json.read_text())


def report(name: str, r: dict, refs: dict[str, str]) -> float:
    from callscribe.evaluate import score

    metrics, _ = score([(p, refs[p], r["texts"].get(p, "")) for p in refs if refs[p]])
    speed = r["audio_seconds"] / r["wall_seconds"]
    rss = ", ".join(f"{k} {v:.0f} MB" for k, v in r["peak_rss_mb"].items())
    busy = r.get("worker_seconds", r["wall_seconds"])
    wer = f"{metrics['wer']:.2%}" if "wer" in metrics else "n/a (no references)"
    print(f"{name:9s} audio {r['audio_seconds']:8.1f} s  wall {r['wall_seconds']:7.1f} s  speed {speed:6.1f}x real time  "
          f"WER {wer}  peak RSS {rss}")
    print(f"{'':9s} time in the model {r['model_seconds']:.1f} s of {busy:.1f} s busy ({r['model_seconds'] / busy:.0%}); "
          f"outside it {busy - r['model_seconds']:.1f} s")
    r["wer"], r["speed"] = metrics.get("wer"), speed
    return r["wer"]


def per_kind(results: dict, refs: dict[str, str], kinds: dict[str, str]) -> dict:
    """WER of every run on every kind of speech, printed as one table (kinds as rows)."""
    from callscribe.evaluate import score

    table: dict[str, dict] = {}
    for kind in dict.fromkeys(kinds.values()):
        paths = [p for p in refs if kinds[p] == kind and refs[p]]
        row = {"files": len(paths)}
        for name, r in results.items():
            metrics, _ = score([(p, refs[p], r["texts"].get(p, "")) for p in paths])
            row[name], row["words"] = metrics.get("wer"), metrics.get("ref_words", 0)
        table[kind] = row
    names = list(results)
    print("\n| set | files | words | " + " | ".join(names) + " |\n|---|---|---|" + "---|" * len(names))
    for kind, row in table.items():
        print(f"| {kind} | {row['files']} | {row['words']} | " + " | ".join(
            f"{row[n]:.2%}" if row[n] is not None else "n/a" for n in names) + " |")
    return table


def clip_diff(results: dict, refs: dict[str, str], kinds: dict[str, str], path: Path) -> None:
    """Each clip's text and WER per run (JSON lines), and a printout of the clips where the runs differ:
    where a run loses words shows up clip by clip, not only in the totals."""
    from callscribe.evaluate import normalize, score

    names = list(results)
    with path.open("w") as out:
        for clip, ref in refs.items():
            row = {"clip": clip, "kind": kinds[clip], "reference": ref}
            for name in names:
                text = results[name]["texts"].get(clip, "")
                d = score([(clip, ref, text)])[1][0]
                errors = d.get("inserted_words", 0) + sum(d.get(k, 0) for k in ("substitutions", "deletions", "insertions"))
                row[name] = {"text": text, "errors": errors, "deletions": d.get("deletions", 0)}
            out.write(json.dumps(row) + "\n")
            if len({normalize(row[n]["text"]) for n in names}) > 1:
                print(f"\n{kinds[clip]} {Path(clip).name}  ref: {normalize(ref)}")
                for n in names:
                    print(f"  {n[:24]:24s} {row[n]['errors']:3d} err  {normalize(row[n]['text'])}")


def per_bucket(results: dict, refs: dict[str, str], durations: dict[str, float]) -> dict:
    """Per length bucket (bench/archive_set.py): each run's speed in x real time per CPU-second (the loop's
    threads and the workers' decoding; on a shared machine CPU time moves far less with the load than wall
    time), its ratio to the loop's, WER and deletions."""
    from archive_set import BUCKETS, bucket

    from callscribe.evaluate import score

    names = [n for n in results if "call_cpu_seconds" in results[n]]
    if not names:
        return {}
    table: dict[str, dict] = {}
    for _, name in [*BUCKETS, (0, "all")]:
        paths = [p for p in refs if name in ("all", bucket(durations[p]))]
        if not paths:
            continue
        audio = sum(durations[p] for p in paths)
        row = {"calls": len(paths), "audio_minutes": round(audio / 60, 1)}
        for n in names:
            r = results[n]
            cpu = sum(r["call_cpu_seconds"].get(p, 0.0) for p in paths)
            metrics, _ = score([(p, refs[p], r["texts"].get(p, "")) for p in paths if refs[p]])
            row[n] = {"speed_per_cpu": round(audio / cpu, 2) if cpu else None, "wer": metrics.get("wer"),
                      "deletions": metrics.get("deletions"), "words": metrics.get("ref_words")}
        table[name] = row
    loop = names[0]
    print(f"\n| length | calls | audio | {loop} | " + " | ".join(f"{n} (ratio)" for n in names[1:])
          + " | WER " + " / ".join(names) + " | deletions " + " / ".join(names) + " |")
    print("|---|---|---|---|" + "---|" * (len(names) - 1) + "---|---|")
    for name, row in table.items():
        speeds = " | ".join(f"{row[n]['speed_per_cpu']:.1f}x (**{row[n]['speed_per_cpu'] / row[loop]['speed_per_cpu']:.2f}x**)"
                            for n in names[1:])
        wers = " / ".join(f"{100 * row[n]['wer']:.1f} %" if row[n]["wer"] is not None else "n/a" for n in names)
        dels = " / ".join(str(row[n]["deletions"]) for n in names)
        print(f"| {name} | {row['calls']} | {row['audio_minutes']} min | {row[loop]['speed_per_cpu']:.1f}x | {speeds} | {wers} | {dels} |")
    return table


def paired(results: dict, refs: dict[str, str]) -> dict:
    """Each run's WER and deletions against the first run's (the loop), with the paired bootstrap's
    95 % interval over calls (bench/bootstrap.py): an interval that holds 0 is within sampling noise."""
    from bootstrap import interval

    from callscribe.evaluate import score

    names = [n for n in results if "texts" in results[n]]
    per = {}
    for n in names:
        details = score([(p, refs[p], results[n]["texts"].get(p, "")) for p in refs if refs[p]])[1]
        per[n] = {d["id"]: d for d in details}
    clips = list(per[names[0]])
    out = {}
    for n in names[1:]:
        row = {}
        for what, field in (("wer", None), ("deletions", "deletions")):
            def counts(run, field=field):
                return {c: ("", per[run][c]["ref_words"], per[run][c][field] if field else
                            sum(per[run][c][k] for k in ("substitutions", "deletions", "insertions"))) for c in clips}
            d, lo, hi = interval(clips, counts(names[0]), counts(n))
            row[what] = {"difference_points": round(d, 2), "interval_95": [round(lo, 2), round(hi, 2)]}
        out[n] = row
        print(f"{n} vs {names[0]} over {len(clips)} calls: WER {row['wer']['difference_points']:+.2f} points, 95 % "
              f"[{row['wer']['interval_95'][0]:+.2f}, {row['wer']['interval_95'][1]:+.2f}]; deletions "
              f"{row['deletions']['difference_points']:+.2f} points of the words, 95 % "
              f"[{row['deletions']['interval_95'][0]:+.2f}, {row['deletions']['interval_95'][1]:+.2f}]")
    return out


def long_call(workdir: Path, minutes: float = 90) -> str:
    """A 90-minute GSM call: the 20-minute chapter, repeated."""
    import numpy as np
    import soundfile as sf

    src, sr = sf.read(str(next((SHARED / "gsm8k" / "lj_longform_chapter_22k").glob("*.wav"))), dtype="int16")
    reps = int(np.ceil(minutes * 60 * sr / len(src)))
    path = workdir / "long_90min.wav"
    sf.write(str(path), np.tile(src, reps)[: int(minutes * 60 * sr)], sr, subtype="GSM610")
    return str(path)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(*sys.argv[2:5])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="*", help="audio files (default: the archive-shaped set described above)")
    parser.add_argument("--refs", help="JSON lines with `audio` (path) and `text`, for --files")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--memory", action="store_true", help="also run the pipeline on a 90-minute call")
    parser.add_argument("--json", help="write all figures here")
    parser.add_argument("--clips", help="write every clip's reference and each run's text and WER here (JSON lines), "
                        "and print the clips whose WER differs between runs")
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                        help="a transcribe param for the pipeline, as `dvc exp run -S` takes it: --set beam_size=1")
    parser.add_argument("--variant", action="append", default=[], metavar="P=V[,P=V]",
                        help="one more pipeline run after the first, with these params (\"\" = the same again: run-to-run noise)")
    parser.add_argument("--half", choices=["tuning", "check"], default="check", help="which half of the archive-shaped set")
    parser.add_argument("--loop-twice", action="store_true", help="run the loop twice: its own run-to-run noise")
    parser.add_argument("--mix", action="store_true", help="the older clip mix instead of the archive-shaped set")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"--mix: sets to run (default: all of {','.join(KINDS)})")
    parser.add_argument("--per-kind", type=int, default=48, help="--mix: clips drawn (seeded) from each clip set; digits get half")
    args = parser.parse_args()

    def parse(kvs):
        return {k.strip().removeprefix("transcribe."): yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in kvs if kv.strip())}

    overrides = parse(args.set)

    workdir = Path(tempfile.mkdtemp(prefix="callscribe-bench-"))
    if args.files:
        refs = {}
        if args.refs:
            refs = {str(Path(d["audio"])): d["text"] for d in map(json.loads, open(args.refs))}
        pairs = [(f, refs.get(f, ""), "files") for f in args.files]
    elif args.mix:
        pairs = default_set(workdir, args.per_kind, args.kinds.split(","))
    else:
        from archive_set import build

        pairs = build(SHARED, args.half)
    import soundfile as sf

    files, refs, kinds = [p for p, _, _ in pairs], {p: t for p, t, _ in pairs}, {p: k for p, _, k in pairs}
    durations = {p: sf.info(p).duration for p in files}
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    print(f"{len(files)} files, {sum(durations.values()) / 60:.1f} min; machine: {machine}"
          + (f"; pipeline with {overrides}" if overrides else "") + "\n", flush=True)

    results = {}
    if not args.skip_baseline:
        results["baseline"] = measure("baseline", files, workdir)
    results["pipeline"] = measure("pipeline", files, workdir, overrides)
    if args.loop_twice and not args.skip_baseline:
        results["baseline again"] = measure("baseline", files, workdir, name="baseline2")
    for i, variant in enumerate(args.variant, 2):
        name = f"pipeline{i} " + (variant or "again")
        results[name] = measure("pipeline", files, workdir, {**overrides, **parse(top_level_split(variant))}, name=f"pipeline{i}")
    runs = dict(results)
    print()
    for name, r in runs.items():
        report(name, r, refs)
    results["per_kind"] = per_kind(runs, refs, kinds)
    results["per_bucket"] = per_bucket(runs, refs, durations)
    if "baseline" in runs and runs["pipeline"]["wer"] is not None:
        b, p = runs["baseline"], runs["pipeline"]
        print(f"\npipeline vs baseline: {p['speed'] / b['speed']:.2f}x the throughput; "
              f"WER {100 * (p['wer'] - b['wer']):+.2f} points")
        results["paired"] = paired(runs, refs)
    results["run"] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine, "argv": sys.argv[1:],
                      "set": "files" if args.files else "mix" if args.mix else f"archive-shaped, {args.half} half",
                      "statuses": {n: dict(Counter(r.get("statuses", {}).values())) for n, r in runs.items()}}
    if args.clips:
        clip_diff(runs, refs, kinds, Path(args.clips))
    if args.memory:
        path = long_call(workdir)
        (workdir / "long").mkdir()
        r = measure("pipeline", [path], workdir / "long", overrides)
        print(f"\n90-minute call: wall {r['wall_seconds']:.0f} s, speed {r['audio_seconds'] / r['wall_seconds']:.1f}x, "
              f"peak RSS {', '.join(f'{k} {v:.0f} MB' for k, v in r['peak_rss_mb'].items())}")
        results["long_call"] = r
    if args.json:
        for r in results.values():
            r.pop("texts", None) if isinstance(r, dict) else None
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
