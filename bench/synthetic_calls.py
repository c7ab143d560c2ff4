"""Synthetic merge outputs (calls.jsonl and per-call JSON transcripts) with realistic metadata, for the
index's scale bench (bench/index_scale.py) and tests.

Calls look like a contact centre's: four queues of unequal size, repeat callers, business hours over six
months, log-normal lengths (median ~2 min, a few over an hour), a tenth not transcribed (filtered,
no speech), a third stereo (agent/caller), the rest two diarized speakers; speech of ~1.75 words a
second assembled from call-centre phrases and a few thousand other words with a Zipf-like spread.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

PHRASES = [
    "thank you for calling how can I help you today", "I would like to cancel my subscription",
    "can I have your claim number please", "the refund should arrive within five business days",
    "I'm calling about my last invoice", "let me check that for you", "could you confirm your date of birth",
    "I was charged twice this month", "the technician never showed up", "I want to speak to a supervisor",
    "your policy covers water damage", "is there anything else I can help you with", "my card was declined",
    "we can offer you a discount for the next three months", "I moved to a new address", "please hold for a moment",
    "the order was delivered to the wrong address", "I never received the confirmation email",
    "the cancellation fee is waived", "I need to update my payment details", "the package arrived damaged",
    "can you reset my password", "I'd like to file a complaint", "your account number ends in four two",
]
QUEUES = [("300", 0.45), ("301", 0.25), ("410", 0.2), ("500", 0.1)]
AREA = ["252", "336", "704", "910", "919", "828", "980", "984"]


def _vocabulary(rng: random.Random, n: int = 6000) -> list[str]:
    syll = ["ka", "lo", "mi", "ter", "san", "vo", "ri", "den", "pa", "mor", "lin", "ge", "tu", "bar", "ces", "ol"]
    return ["".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(n)]


class Generator:
    """Deterministic for a seed: call i is the same whatever else is generated."""

    def __init__(self, seed: int = 0, start: str = "2025-04-01", days: int = 183):
        rng = random.Random(seed)
        self.seed, self.start, self.days = seed, datetime.fromisoformat(start), days
        self.words = _vocabulary(rng)
        self.cum_weights = list(itertools.accumulate(1 / (r + 1) for r in range(len(self.words))))  # Zipf
        self.callers = [f"+1{rng.choice(AREA)}555{rng.randint(0, 9999):04d}" for _ in range(15000)]

    def sentence(self, rng: random.Random) -> str:
        if rng.random() < 0.55:
            return rng.choice(PHRASES)
        return " ".join(rng.choices(self.words, cum_weights=self.cum_weights, k=rng.randint(4, 14)))

    def call(self, i: int, duration: float | None = None, stereo: bool | None = None) -> tuple[dict, dict | None]:
        """(calls.jsonl row, transcript JSON or None) for call number i."""
        rng = random.Random(f"{self.seed}-{i}")
        queue = rng.choices([q for q, _ in QUEUES], [w for _, w in QUEUES])[0]
        # Repeat callers: a third of calls come from 300 frequent numbers, the rest from 15,000.
        caller = self.callers[rng.randrange(300) if rng.random() < 0.33 else rng.randrange(len(self.callers))]
        day = self.start + timedelta(days=rng.randrange(self.days))
        when = day.replace(hour=rng.randint(8, 18), minute=rng.randrange(60), second=rng.randrange(60))
        epoch = f"{int(when.timestamp())}.{rng.randrange(10000):04d}"
        archive = f"calls_{when:%Y-%m}"
        name = f"q-{queue}-{caller}-{when:%Y%m%d-%H%M%S}-{epoch}.WAV"
        if duration is None:
            duration = round(min(5400.0, rng.lognormvariate(4.7, 0.85)), 2)
        stereo = rng.random() < 0.3 if stereo is None else stereo
        status = rng.choices(["ok", "no_speech", "filtered"], [0.9, 0.04, 0.06])[0]
        row = {"id": f"{archive}/recordings/{name[:-4]}", "archive": archive, "name": name, "bytes": int(duration * 1625) + 60,
               "sha256": hashlib.sha256(f"{self.seed}-{i}".encode()).hexdigest(), "codec": "gsm610", "sample_rate": 8000,
               "channels": 2 if stereo else 1, "duration": duration, "queue": queue, "caller": caller,
               "date": f"{when:%Y-%m-%d}", "start": f"{when:%Y-%m-%dT%H:%M:%S}", "start_utc": None, "call_id": epoch,
               "shard": f"{when:%Y-%m}", "status": status, "reason": None, "text": None}
        if status == "filtered":
            row["reason"] = "shorter than filter.min_seconds" if duration < 1 else "queue not selected"
            return row, None
        row.update(warnings=[], engine="faster-whisper", model="base")
        if status == "no_speech":
            return row, None
        speakers = ["agent", "caller"] if stereo else ["SPEAKER_00", "SPEAKER_01"]
        segments, t, talk = [], rng.uniform(0.2, 2.0), {s: 0.0 for s in speakers}
        who = 0
        while t < duration - 1.0:
            text = self.sentence(rng)
            length = min(len(text.split()) / rng.uniform(2.2, 3.2), duration - t)
            if rng.random() < 0.6:
                who = 1 - who
            segments.append({"id": len(segments), "start": round(t, 2), "end": round(t + length, 2),
                             "text": " " + text[0].upper() + text[1:] + ".", "speaker": speakers[who]})
            talk[speakers[who]] += length
            t += length + rng.uniform(0.3, 2.5)  # pauses: about 1.75 spoken words a second overall
        row["text"] = "".join(s["text"] for s in segments).strip()
        row["speakers"] = {s: round(v, 2) for s, v in talk.items()}
        return row, {"text": row["text"], "language": "en", "duration": duration, "segments": segments, "speakers": row["speakers"]}


def write(output_dir: Path, n: int, seed: int = 0, start_at: int = 0, extra: list[tuple[dict, dict | None]] = ()) -> list[dict]:
    """Writes output_dir/calls.jsonl and output_dir/transcripts/<id>.json for calls start_at..start_at+n-1 (and `extra`)."""
    gen = Generator(seed)
    rows = []
    for row, transcript in [*(gen.call(i) for i in range(start_at, start_at + n)), *extra]:
        if transcript is not None:
            path = output_dir / "transcripts" / f"{row['id']}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(transcript, ensure_ascii=False))
        rows.append(row)
    with open(output_dir / "calls.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return rows


def add(output_dir: Path, scratch: Path, n: int, seed: int = 0, start_at: int = 0) -> list[dict]:
    """Calls start_at..start_at+n-1 added to an output folder write() made (a new month): written in `scratch`,
    their transcripts moved in, their rows appended to calls.jsonl."""
    import os

    rows = write(scratch, n, seed=seed, start_at=start_at)
    for r in rows:
        src = scratch / "transcripts" / f"{r['id']}.json"
        if src.exists():
            dest = output_dir / "transcripts" / f"{r['id']}.json"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
    with open(output_dir / "calls.jsonl", "a", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return rows
