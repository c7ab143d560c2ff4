"""How well the per-call confidence figure (callscribe.confidence) ranks calls by their real WER.

Every labelled set there is: the samples (from this checkout's pipeline run, data/output) and the GSM
8 kHz sets of ../shared/data/gsm8k (transcribed here by callscribe's transcribe stage, resumable).
Each set is split by a hash of the file name into a tuning half (where the figure and LOW were
chosen) and a check half (reported). Prints Spearman's rho per set and half, writes
bench/results/confidence.json and the per-clip rows bench/review_design.py reuses.

    python bench/confidence.py                      # ~25 min of audio; resumes in --work
    python bench/confidence.py --work /tmp/conf --per-set 40
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
from pathlib import Path

import jiwer
import yaml
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("CALLSCRIBE_SHARED", REPO.parent / "shared" / "data"))

from callscribe.confidence import confidence, signals  # noqa: E402
from callscribe.evaluate import normalize  # noqa: E402

# (folder under gsm8k, clips taken): speakers with several clips each, so review_design.py can build calls.
SETS = {"timit_nltk_sample": (16, 5), "speechocean762_test_subset": (60, 2), "spokenwoz_calls_8k": (3, 1),
        "fsdd_digits_8k": (6, 5)}  # (speakers, clips per speaker)
CANDIDATES = {  # what could rank calls; chosen on the tuning half
    "confidence": lambda s: confidence(s),
    "exp_logprob": lambda s: None if s["mean_logprob"] is None else math.exp(s["mean_logprob"]),
    "logprob_speech": lambda s: None if s["mean_logprob"] is None else math.exp(s["mean_logprob"]) * (1 - (s["no_speech_prob"] or 0)),
    "word_prob": lambda s: s["word_prob"],
}


def half(name: str) -> str:
    return "tune" if int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2 == 0 else "check"


def pick(folder: str, speakers: int, per: int) -> list[dict]:
    """`per` clips of each of `speakers` speakers (seeded), so review_design.py can build calls from them."""
    by_speaker: dict[str, list[dict]] = {}
    for r in map(json.loads, open(SHARED / "gsm8k" / folder / "manifest.jsonl")):
        by_speaker.setdefault(r.get("speaker") or r["audio"], []).append(r)
    names = sorted(by_speaker)
    random.Random(0).shuffle(names)
    return [{**r, "speaker": s} for s in names[:speakers] for r in by_speaker[s][:per]]


def transcribe(files: list[dict], work: Path) -> dict[str, tuple[dict | None, list[str]]]:
    """id -> (transcript JSON, warnings), through the transcribe stage's runner (params.yaml settings)."""
    import soundfile as sf

    from callscribe.calls import Job
    from callscribe.journal import Journal
    from callscribe.profile import sha256_file
    from callscribe.runner import run
    from callscribe.settings import TranscribeSettings

    params = yaml.safe_load((REPO / "params.yaml").read_text())["transcribe"]
    settings = TranscribeSettings.from_params({**params, "engine": "faster-whisper", "model": "base"})
    jobs = [Job(f["id"], f["path"], sha256_file(f["path"]), sf.info(f["path"]).duration) for f in files]
    run(jobs, work, settings, progress=False)
    entries = Journal(work / "journal.jsonl").entries()
    out = {}
    for job in jobs:
        e = entries[job.id]
        out[job.id] = (json.loads((work / e["json"]).read_text()) if e.get("json") else None, e.get("warnings") or [])
    return out


def clip_row(set_name: str, key: str, ref: str, transcript: dict | None, warnings: list[str], duration: float, speaker: str) -> dict:
    r, h = normalize(ref), normalize((transcript or {}).get("text") or "")
    out = jiwer.process_words(r, h) if r else None
    errors = (out.substitutions + out.deletions + out.insertions) if out else len(h.split())
    sig = signals(transcript, warnings)
    return {"set": set_name, "id": key, "speaker": speaker, "duration": duration, "ref_words": len(r.split()),
            "errors": errors, "deletions": out.deletions if out else 0, "wer": errors / len(r.split()) if r else None,
            "half": half(key), **sig, **{k: f(sig) for k, f in CANDIDATES.items()}}


def sample_rows() -> list[dict]:
    """The samples, from this checkout's pipeline run (`dvc repro`): data/output/calls.jsonl and transcripts."""
    calls = {(c["archive"], c["name"]): c for c in map(json.loads, open(REPO / "data/output/calls.jsonl"))}
    rows = []
    for lab in map(json.loads, open(REPO / "samples/labels.jsonl")):
        call = calls.get((lab["archive"], lab["file"]))
        path = REPO / "data/output/transcripts" / f"{call['id']}.json" if call else None
        if call is None or not path.is_file():
            continue
        rows.append(clip_row("samples", call["id"], lab["text"], json.loads(path.read_text()), call.get("warnings"),
                             call["duration"], call["id"]))
    return rows


def rho(rows: list[dict], key: str) -> tuple[float | None, int]:
    pairs = [(r[key], r["wer"]) for r in rows if r[key] is not None and r["wer"] is not None]
    if len(pairs) < 5:
        return None, len(pairs)
    value = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return (None if value != value else round(-float(value), 3)), len(pairs)  # sign flipped: higher = ranks errors better


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/callscribe-bench-confidence")
    ap.add_argument("--out", default=str(REPO / "bench/results/confidence.json"))
    args = ap.parse_args()
    work = Path(args.work)
    rows = []
    for folder, (speakers, per) in SETS.items():
        files = [{"id": f"{folder}/{Path(m['audio']).stem}", "path": str(SHARED / "gsm8k" / folder / m["audio"]), **m}
                 for m in pick(folder, speakers, per)]
        done = transcribe(files, work / folder)
        rows += [clip_row(folder, f["id"], f["text"], *done[f["id"]], f["duration"], f["speaker"]) for f in files]
    rows = sample_rows() + rows
    table = {}
    print(f"{'set':28} {'half':6} {'n':>4} " + " ".join(f"{k:>12}" for k in CANDIDATES))
    for set_name in [*dict.fromkeys(r["set"] for r in rows), "all"]:
        for h in ("tune", "check"):
            part = [r for r in rows if (set_name == "all" or r["set"] == set_name) and r["half"] == h]
            figures = {k: rho(part, k) for k in CANDIDATES}
            table[f"{set_name}/{h}"] = {k: v[0] for k, v in figures.items()} | {"n": max(v[1] for v in figures.values())}
            print(f"{set_name:28} {h:6} {table[f'{set_name}/{h}']['n']:>4} "
                  + " ".join(f"{'-' if v[0] is None else v[0]:>12}" for v in figures.values()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    clips = ",\n".join(json.dumps(r) for r in rows)  # one clip a line: small diffs when a run changes
    Path(args.out).write_text(f'{{"spearman_minus": {json.dumps(table, indent=1)},\n"clips": [\n{clips}\n]}}\n')
    print(f"wrote {args.out}  (rho is -Spearman(figure, WER): 1 = the least confident calls are exactly the worst)")


if __name__ == "__main__":
    main()
