"""Which of the pipeline's differences from the loop costs words: the archive-shaped set decoded by the
engine alone (no workers, no speaker turns: they do not change the text), once per variant, each call's
text and WER written out, then compared call by call with the paired bootstrap (bench/bootstrap.py).

A variant is a comma list of changes to the pipeline's decoding (params.yaml):
  KEY=VALUE       a transcribe setting (max_chunk_minutes=30, pack_seconds=0, beam_size=5, vad=false)
  fw.KEY=VALUE    a faster-whisper `transcribe` option over the pipeline's (fw.log_prob_threshold=-1.0)
  vad.KEY=VALUE   a decoder VAD option (callscribe.vad.DECODER: vad.speech_pad_ms=400)
  loader=pyav     read the files the way the loop does (faster_whisper.decode_audio) instead of soxr
  loop            the loop itself: `WhisperModel.transcribe(path)` with the library's defaults

    python bench/decode_variants.py --half tuning --out /tmp/v/pipeline.jsonl ''
    python bench/decode_variants.py --half tuning --out /tmp/v/lp.jsonl fw.log_prob_threshold=-1.0
    python bench/decode_variants.py --compare /tmp/v/loop.jsonl /tmp/v/pipeline.jsonl /tmp/v/lp.jsonl
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLSCRIBE_SHARED", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO / "bench"))


def parse(variant: str) -> dict:
    from throughput import top_level_split

    out: dict = {"set": {}, "fw": {}, "vad": {}, "loader": "soxr", "loop": False}
    for kv in filter(None, (p.strip() for p in top_level_split(variant))):
        if kv == "loop":
            out["loop"] = True
            continue
        key, value = kv.split("=", 1)
        value = yaml.safe_load(value)
        if key == "loader":
            out["loader"] = value
        elif "." in key:
            group, name = key.split(".", 1)
            out[group][name] = value
        else:
            out["set"][key] = value
    return out


_TIMED: list = []  # the engine's model wrapper of each decode, counting CPU seconds per method


def decode(files: list[str], variant: dict) -> dict[str, dict]:
    """Each file's text and CPU seconds under the variant."""
    from faster_whisper import decode_audio

    from callscribe import calls, vad
    from callscribe.calls import Job
    from callscribe.engines.whisper import WhisperEngine, _Timed
    from callscribe.runner import groups
    from callscribe.settings import TranscribeSettings

    params = yaml.safe_load((REPO / "params.yaml").read_text())["transcribe"]
    settings = TranscribeSettings.from_params({**params, "workers": 1, "cpu_threads": 1, **variant["set"]})
    settings = dataclasses.replace(settings, diarize=False)  # speaker turns do not change the text
    engine = WhisperEngine(settings)
    engine._model.model = _Timed(engine._model.model, clock=time.process_time)
    _TIMED.append(engine._model.model)
    if variant["loop"]:
        out = {}
        for path in files:
            c0 = time.process_time()
            segments, _ = engine._model.transcribe(path)
            out[path] = {"text": " ".join(s.text.strip() for s in segments), "cpu": time.process_time() - c0}
        return out
    vad.DECODER.update(variant["vad"])
    plain = engine._model.transcribe
    engine._model.transcribe = lambda audio, **kw: plain(audio, **{**kw, **variant["fw"]})
    if variant["loader"] == "pyav":
        calls.load_audio = lambda path: decode_audio(path)[None, :]
    import soundfile as sf

    jobs = sorted((Job(str(i), p, "", sf.info(p).duration) for i, p in enumerate(files)), key=lambda j: -j.duration)
    out = {}
    for group in groups(jobs, settings.pack_seconds):
        c0 = time.process_time()
        results = calls.transcribe_files(engine, group, settings)
        cpu = time.process_time() - c0
        total = sum(j.duration for j in group)
        for job, (record, transcript) in zip(group, results):
            out[job.path] = {"text": transcript.text if transcript else "", "status": record.status,
                             "cpu": cpu * job.duration / total}
    return out


def compare(paths: list[str]) -> None:
    """Per call: each run's errors and deletions; then each run against the first, paired bootstrap over calls."""
    from bootstrap import interval

    from callscribe.evaluate import score

    runs = {Path(p).stem: {r["path"]: r for r in map(json.loads, open(p))} for p in paths}
    first = next(iter(runs.values()))
    clips = [c for c in first if first[c]["reference"]]
    per = {}
    for name, rows in runs.items():
        details = score([(c, rows[c]["reference"], rows[c]["text"]) for c in clips])[1]
        per[name] = {d["id"]: d for d in details}
    names = list(runs)
    print("call | words | " + " | ".join(f"{n[:14]} err/del" for n in names))
    for c in clips:
        cells = [f"{per[n][c]['substitutions'] + per[n][c]['deletions'] + per[n][c]['insertions']:4d}/{per[n][c]['deletions']:<4d}"
                 for n in names]
        print(f"{Path(c).stem[:22]:22s} | {per[names[0]][c]['ref_words']:5d} | " + " | ".join(f"{x:>18s}" for x in cells))
    words = sum(per[names[0]][c]["ref_words"] for c in clips)
    for n in names:
        errs = sum(per[n][c]["substitutions"] + per[n][c]["deletions"] + per[n][c]["insertions"] for c in clips)
        dels = sum(per[n][c]["deletions"] for c in clips)
        cpu = sum(runs[n][c]["cpu"] for c in clips)
        audio = sum(runs[n][c]["duration"] for c in clips)
        line = f"{n:28s} WER {100 * errs / words:6.2f} %  deletions {dels:4d}  {audio / cpu:5.1f}x real time per CPU-s"
        if n != names[0]:
            for what, key in (("WER", None), ("del", "deletions")):
                def counts(run, key=key):
                    return {c: ("", per[run][c]["ref_words"], per[run][c][key] if key else
                                sum(per[run][c][k] for k in ("substitutions", "deletions", "insertions"))) for c in clips}
                d, lo, hi = interval(clips, counts(names[0]), counts(n))
                line += f"  {what} {d:+.2f} [{lo:+.2f}, {hi:+.2f}]"
        print(line)


def _marks(ref: list[str], hyp: list[str]) -> list[tuple[str, str]]:
    """Per reference word: (what the hypothesis has there, "" when right), and insertions after it."""
    import jiwer

    out = [["", ""] for _ in ref] + [["", ""]]
    for chunk in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        said = " ".join(hyp[chunk.hyp_start_idx:chunk.hyp_end_idx])
        if chunk.type == "substitute":
            for i in range(chunk.ref_start_idx, chunk.ref_end_idx):
                out[i][0] = hyp[chunk.hyp_start_idx + i - chunk.ref_start_idx]
        elif chunk.type == "delete":
            for i in range(chunk.ref_start_idx, chunk.ref_end_idx):
                out[i][0] = "-"
        elif chunk.type == "insert":
            out[chunk.ref_start_idx][1] = f"+{said}"
    return [tuple(m) for m in out]


def diff(a: str, b: str, width: int = 6) -> None:
    """Where run `b` errs and run `a` does not (and the reverse), call by call: the reference around it
    and each run's words there (`-` a deleted word, `+x` an inserted one)."""
    from callscribe.evaluate import normalize

    ra, rb = ({r["path"]: r for r in map(json.loads, open(p))} for p in (a, b))
    for path, row in ra.items():
        ref = normalize(row["reference"]).split()
        if not ref:
            continue
        ma, mb = _marks(ref, normalize(row["text"]).split()), _marks(ref, normalize(rb[path]["text"]).split())
        bad = [i for i in range(len(ma)) if ma[i] != mb[i]]
        if not bad:
            continue
        print(f"\n== {Path(path).stem}: {len(bad)} places differ")
        spans: list[list[int]] = []
        for i in bad:
            if spans and i - spans[-1][1] <= width:
                spans[-1][1] = i
            else:
                spans.append([i, i])
        for lo, hi in spans:
            lo, hi = max(0, lo - 3), min(len(ref), hi + 4)
            show = lambda m: " ".join((w if not m[i][0] else f"[{m[i][0]}]") + (f" {m[i][1]}" if m[i][1] else "")  # noqa: E731
                                      for i, w in zip(range(lo, hi), ref[lo:hi]))
            print(f"  ref: {' '.join(ref[lo:hi])}\n   {Path(a).stem[:5]}: {show(ma)}\n   {Path(b).stem[:5]}: {show(mb)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", nargs="?", default="", help="the changes, as above ('' = the pipeline's defaults)")
    parser.add_argument("--half", choices=["tuning", "check"], default="tuning")
    parser.add_argument("--out", help="JSON lines: each call's path, reference, text, CPU seconds")
    parser.add_argument("--only", help="only files whose name holds this")
    parser.add_argument("--shorter", type=float, help="only calls shorter than this many seconds (packing)")
    parser.add_argument("--diff", nargs=2, metavar="JSONL", help="print where two runs' errors differ, call by call")
    parser.add_argument("--compare", nargs="+", metavar="JSONL", help="compare runs written by --out (the first is the reference run)")
    args = parser.parse_args()
    if args.compare:
        return compare(args.compare)
    if args.diff:
        return diff(*args.diff)
    import soundfile as sf
    from archive_set import build

    pairs = [p for p in build(SHARED, args.half) if (not args.only or args.only in p[0])
             and (not args.shorter or sf.info(p[0]).duration < args.shorter)]
    texts = decode([p for p, _, _ in pairs], parse(args.variant))
    cpu, calls = collections.Counter(), collections.Counter()
    for timed in _TIMED:
        cpu.update(timed.by_method)
        calls.update(timed.calls)
    print("CPU seconds in the model (calls):", {k: (round(v, 1), calls[k]) for k, v in cpu.items()})
    with open(args.out, "w") as out:
        for path, ref, kind in pairs:
            out.write(json.dumps({"path": path, "reference": ref, "kind": kind, "duration": sf.info(path).duration,
                                  "variant": args.variant, **texts[path]}) + "\n")


if __name__ == "__main__":
    main()
