"""An evaluation set shaped like a call-centre archive: most of the audio in two-party calls of 1-15
minutes, a tail of short calls, a few long ones; split into a tuning half and a check half with
speakers of their own.

Real two-party telephone dialogues (SpokenWOZ mono mixes), two-party mixes built from read speech the
way scripts/make_twoparty.py builds them (an agent from TIMIT or LJ Speech, a caller from
speechocean762 or TIMIT, turns, backchannels, overlaps, a telephone line), LJ long-forms, and short
calls (single utterances, voicemails). All GSM 6.10, 8 kHz. Built once (seeded) under data/bench/.

| bucket | tuning half | check half |
|---|---|---|
| short (< 30 s) | 6 utterances, 1 voicemail | 6 utterances, 1 voicemail |
| 30 s - 1 min | 2 two-party | 2 two-party |
| 1-5 min | 1 SpokenWOZ, 1 two-party (3 min) | 2 SpokenWOZ, 1 two-party (3 min) |
| 5-15 min | 1 two-party (6 min), 1 LJ long-form | 1 two-party (6 min), 1 LJ long-form |
| over 15 min | - | 1 two-party (17 min) |
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
BUCKETS = ((30, "short (< 30 s)"), (60, "30 s - 1 min"), (300, "1-5 min"), (900, "5-15 min"), (float("inf"), "over 15 min"))
HALVES = ("tuning", "check")


def bucket(seconds: float) -> str:
    return next(name for limit, name in BUCKETS if seconds < limit)


def _twoparty():
    """scripts/make_twoparty.py as a module (its dialogue builder and telephone line)."""
    spec = importlib.util.spec_from_file_location("make_twoparty", REPO / "scripts" / "make_twoparty.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(shared: Path, half: str, out: Path | None = None) -> list[tuple[str, str, str]]:
    """(path, reference, kind) of one half, built under `out` (default data/bench/archive/<half>) if not there yet."""
    out = out or REPO / "data" / "bench" / "archive" / half
    manifest = out / "manifest.jsonl"
    if not manifest.exists():
        _write(shared, half, out)
    return [(_where(r["audio"], out, shared), r["text"], r["kind"]) for r in map(json.loads, manifest.read_text().splitlines())]


def _where(audio: str, out: Path, shared: Path) -> str:
    """A manifest row's file: its own under `out`, or one of the shared folder's. Those rows hold the path
    the set was built with, which is relative when CALLSCRIBE_SHARED was (and then wrong from a worktree)."""
    path = Path(audio)
    if path.is_absolute() or (out / path).exists() or "gsm8k" not in path.parts:
        return str(path if path.is_absolute() else out / path)
    return str(shared.joinpath(*path.parts[path.parts.index("gsm8k"):]))


def _write(shared: Path, half: str, out: Path) -> None:
    mk = _twoparty()
    side = HALVES.index(half)
    rng = random.Random(f"archive-{half}")
    pool = mk.speakers(shared)
    lj = [json.loads(line) for line in open(shared / "lj_read_22k" / "manifest.jsonl")]
    pool.pop("lj:LJ")
    names = sorted(pool)
    mine = [k for i, k in enumerate(names) if i % 2 == side]  # each half its own speakers
    timit = [k for k in mine if pool[k]["pool"] == "timit"]
    ocean = [k for k in mine if pool[k]["pool"] == "speechocean762"]
    lj_half = lj[side::2]
    agents = [{"files": [shared / "lj_read_22k" / m["audio"] for m in lj_half], "texts": [m["text"] for m in lj_half]}]
    agents += [pool[k] for k in timit]
    callers = [pool[k] for k in ocean + timit]
    rng.shuffle(callers)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    gsm = shared / "gsm8k"

    def add(name: str, audio: np.ndarray, text: str, kind: str) -> None:
        audio = audio * (0.7 / (np.abs(audio).max() + 1e-9))
        sf.write(out / f"{name}.wav", audio, 8000, format="WAV", subtype="GSM610")
        rows.append({"audio": f"{name}.wav", "text": text, "kind": kind, "duration": round(len(audio) / 8000, 2)})

    def call(seconds: float, name: str) -> None:
        """A two-party call near `seconds` long: agents and callers take turns, each side drawing sentences
        from speakers of this half in turn (a long call outlasts one speaker's sentences)."""
        need = int(seconds / 4.2) // 2 + 1  # sentences per side: ~3.5 s each, with pauses and backchannels
        agent, caller = _draw(agents, need, rng), _draw(callers, need, rng)
        tape = mk.dialogue(agent, caller, rng)
        gains = {role: 10 ** (rng.uniform(-4, 2) / 20) for role in ("agent", "caller")}
        text = " ".join(t for _, _, _, t in sorted(tape.pieces, key=lambda p: p[0]) if t)
        add(name, mk.telephone(tape.render(gains)), text, "two-party")

    # Short calls: single utterances as the archive's one-line calls, and a voicemail.
    for folder, keys in (("timit_nltk_sample", timit), ("speechocean762_test_subset", ocean)):
        found = [m for m in map(json.loads, open(gsm / folder / "manifest.jsonl")) if f"{folder.split('_')[0]}:{m['speaker']}" in keys]
        for m in rng.sample(found, 3):
            rows.append({"audio": str(gsm / folder / m["audio"]), "text": m["text"], "kind": "utterance", "duration": m["duration"]})
    tape = mk.voicemail(callers[0], rng)
    add("voicemail", mk.telephone(tape.render({"caller": 1.0})), " ".join(t for _, _, _, t in tape.pieces), "voicemail")
    for i, seconds in enumerate((35, 40, 160, 330) + ((1100,) if half == "check" else ())):
        call(seconds, f"twoparty_{i}_{seconds}s")
    woz = [json.loads(line) for line in open(gsm / "spokenwoz_calls_8k" / "manifest.jsonl")]
    long_forms = [json.loads(line) for line in open(gsm / "lj_longform_5min_22k" / "manifest.jsonl")]
    for folder, kind, m in [*(("spokenwoz_calls_8k", "spokenwoz", m) for m in (woz[:1] if half == "tuning" else woz[1:])),
                            ("lj_longform_5min_22k", "lj long-form", long_forms[0 if half == "tuning" else 2])]:
        rows.append({"audio": str(gsm / folder / m["audio"]), "text": m["text"], "kind": kind, "duration": m["duration"]})
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _draw(speakers: list[dict], n: int, rng: random.Random) -> dict:
    """n sentences (files and texts) from these speakers, one speaker's before the next's; each sentence
    is used once in a half until all have been (then they come round again)."""
    files, texts = [], []
    while len(files) < n:
        s = speakers[0]
        at = s.setdefault("used", 0)
        take = min(n - len(files), len(s["files"]) - at)
        files += s["files"][at : at + take]
        texts += s["texts"][at : at + take]
        s["used"] = at + take
        if s["used"] >= len(s["files"]):
            s["used"] = 0
            speakers.append(speakers.pop(0))
    return {"files": files, "texts": texts}


if __name__ == "__main__":
    import sys

    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(os.environ.get("CALLSCRIBE_SHARED", REPO.parent / "shared" / "data"))
    for half in HALVES:
        rows = build(shared, half)
        total = sum(sf.info(p).duration for p, _, _ in rows)
        print(f"{half}: {len(rows)} calls, {total / 60:.1f} min")
        for p, _, kind in rows:
            print(f"  {bucket(sf.info(p).duration):16s} {kind:12s} {sf.info(p).duration:7.1f} s  {Path(p).name}")
