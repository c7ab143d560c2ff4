"""Term recall with and without `transcribe.vocabulary`, and the WER on everything else.

    python bench/vocabulary.py [--json out.json]

Speech that holds the terms: LJ Speech clips (real read speech) naming rare printers and places
(Schoeffer, Sweynheim, Pannartz, Subiaco, Caxton, Caslon, Bodoni...), and company phrases
("Alliance Insurance", plan names) spoken by espeak-ng, all through the telephone line (300-3400 Hz,
8 kHz, GSM 6.10). Speech without them: other LJ clips, speechocean762 and TIMIT clips (GSM). Both
runs are callscribe's pipeline with params.yaml, the second with the terms as its vocabulary.
A term counts as recalled when the normalised hypothesis holds it whole.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("CALLSCRIBE_SHARED", REPO.parent / "shared" / "data"))

LJ_TERMS = ["Gutenberg", "Schoeffer", "Maintz", "Lubeck", "Basle", "Sweynheim", "Pannartz", "Subiaco", "Mentelin", "Strasburg",
            "Zeiner", "Augsburg", "Udalric Gering", "Vindelin", "Jenson", "Rubeus", "Schussler", "Gerard Leew", "Wynkyn de Worde",
            "Caxton", "Caslon", "Bodoni", "Didot", "Chiswick", "Longman", "Willoughby", "Ulm", "Cologne"]
PHRASES = [  # what a caller or agent of an insurer might say; the company words are the terms
    ("Thank you for calling Alliance Insurance, this is Maria speaking.", ["Alliance Insurance"]),
    ("I would like to upgrade my policy to the Gold Shield plan.", ["Gold Shield"]),
    ("Is the HomeSecure Plus cover included in my contract?", ["HomeSecure Plus"]),
    ("Your claim was sent to our office in Kalamazoo yesterday.", ["Kalamazoo"]),
    ("Alliance Insurance offers the Platinum Drive package for new cars.", ["Alliance Insurance", "Platinum Drive"]),
    ("Please hold while I transfer you to the Medicover team.", ["Medicover"]),
    ("The Gold Shield plan does not cover flood damage.", ["Gold Shield"]),
    ("You can also pay through the Alliance Insurance app.", ["Alliance Insurance"]),
]
ESPEAK_VOICES = ["en-us", "en", "en-us+f3", "en+m3"]


def telephone_file(audio: np.ndarray, sr: int, path: Path) -> str:
    import soxr

    from scripts.make_twoparty import telephone

    if sr != 16000:
        audio, sr = soxr.resample(audio, sr, 16000), 16000
    line = telephone(audio, sr)
    sf.write(path, 0.7 * line / (np.abs(line).max() + 1e-9), 8000, format="WAV", subtype="GSM610")
    return str(path)


def build(workdir: Path, n_rest: int = 20) -> list[dict]:
    """[{path, text, terms, kind}]: clips with terms (LJ, espeak-ng) and clips without (LJ, speechocean762, TIMIT)."""
    items = []
    lj = [json.loads(line) for line in open(SHARED / "lj_read_22k" / "manifest.jsonl")]
    with_terms, without = [], []
    for m in lj:
        raw = m.get("text_raw") or m["text"]
        found = [t for t in LJ_TERMS if re.search(rf"\b{re.escape(t)}\b", raw)]
        (with_terms if found else without).append((m, found))
    for m, found in with_terms:
        audio, sr = sf.read(SHARED / "lj_read_22k" / m["audio"], dtype="float32")
        items.append({"path": telephone_file(audio, sr, workdir / Path(m["audio"]).with_suffix(".wav").name), "text": m["text"],
                      "terms": found, "kind": "lj_terms"})
    for i, (text, found) in enumerate(PHRASES):
        wav = workdir / f"espeak_{i}.wav"
        subprocess.run(["espeak-ng", "-v", ESPEAK_VOICES[i % len(ESPEAK_VOICES)], "-s", "150", "-w", str(wav), text], check=True)
        audio, sr = sf.read(wav, dtype="float32")
        path = telephone_file(audio, sr, workdir / f"espeak_{i}_gsm.wav")
        items.append({"path": path, "text": text, "terms": found, "kind": "espeak_terms"})
    rng = random.Random(0)
    for m, _ in rng.sample(without, n_rest):
        audio, sr = sf.read(SHARED / "lj_read_22k" / m["audio"], dtype="float32")
        items.append({"path": telephone_file(audio, sr, workdir / Path(m["audio"]).with_suffix(".wav").name), "text": m["text"],
                      "terms": [], "kind": "lj_rest"})
    for folder, kind in (("speechocean762_test_subset", "speechocean762"), ("timit_nltk_sample", "timit")):
        rows = [json.loads(line) for line in open(SHARED / "gsm8k" / folder / "manifest.jsonl")]
        items += [{"path": str(SHARED / "gsm8k" / folder / m["audio"]), "text": m["text"], "terms": [], "kind": kind}
                  for m in rng.sample(rows, n_rest)]
    return items


def recall(items: list[dict], texts: dict[str, str]) -> dict:
    from callscribe.evaluate import normalize

    per: dict[str, list[int]] = {}
    for it in items:
        hyp = f" {normalize(texts.get(it['path'], ''))} "
        for term in it["terms"]:
            per.setdefault(term, []).append(int(f" {normalize(term)} " in hyp))
    hits = sum(sum(v) for v in per.values())
    total = sum(len(v) for v in per.values())
    return {"recall": round(hits / max(total, 1), 4), "hits": hits, "occurrences": total,
            "per_term": {t: f"{sum(v)}/{len(v)}" for t, v in sorted(per.items())}}


def main() -> None:
    from bench.throughput import measure
    from callscribe.evaluate import score

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--rest", type=int, default=20, help="clips without terms per set (LJ, speechocean762, TIMIT)")
    ap.add_argument("--terms", choices=["all", "company"], default="all",
                    help="vocabulary: every term (34), or only the company's words of the spoken phrases (6); recall is over these")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="callscribe-vocab-"))
    items = build(workdir, args.rest)
    if args.terms == "company":
        company = {t for _, found in PHRASES for t in found}
        items = [{**it, "terms": [t for t in it["terms"] if t in company]} if it["kind"] != "lj_terms" else it for it in items]
        items = [it for it in items if it["kind"] != "lj_terms"]
    files = [it["path"] for it in items]
    vocab = sorted({t for it in items for t in it["terms"]})
    print(f"{len(items)} clips, {len(vocab)} terms: {', '.join(vocab)}\n", flush=True)
    runs = {"without vocabulary": measure("pipeline", files, workdir, {}, name="plain"),
            "with vocabulary": measure("pipeline", files, workdir, {"vocabulary": vocab}, name="vocab")}
    out = {}
    for name, r in runs.items():
        row = {"term_recall": recall(items, r["texts"])}
        for kind in dict.fromkeys(it["kind"] for it in items):
            metrics, _ = score([(it["path"], it["text"], r["texts"].get(it["path"], "")) for it in items if it["kind"] == kind])
            row[f"wer {kind}"] = metrics["wer"]
        rest = [it for it in items if not it["terms"]]
        row["wer without terms"] = score([(it["path"], it["text"], r["texts"].get(it["path"], "")) for it in rest])[0]["wer"]
        row["wall_seconds"] = round(r["wall_seconds"], 1)
        out[name] = row
        rec = row["term_recall"]
        print(f"{name}: term recall {rec['recall']:.1%} ({rec['hits']}/{rec['occurrences']}); "
              + "; ".join(f"{k} {v:.2%}" for k, v in row.items() if k.startswith("wer")))
        print(f"    per term: {rec['per_term']}")
    plain, vocab_texts = (r["texts"] for r in runs.values())
    out["changed"] = [{"kind": it["kind"], "terms": it["terms"], "reference": it["text"], "without": plain.get(it["path"], ""),
                       "with": vocab_texts.get(it["path"], "")} for it in items if plain.get(it["path"]) != vocab_texts.get(it["path"])]
    print(f"\n{len(out['changed'])} clips read differently with the vocabulary:")
    for c in out["changed"]:
        print(f"  {c['kind']:15s} {c['without']!r}\n  {'':15s} {c['with']!r}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
