"""Build a two-party dev set that looks like service calls, with reference speaker turns.

    python scripts/make_twoparty.py                 # --shared ../shared/data --out data/twoparty --calls 16

Each dialogue puts two real speakers on one mono line: an agent (TIMIT or LJ Speech) and a caller
(speechocean762, accented, adults and children, or TIMIT). They alternate in turns of one or two
sentences (2-8 s), the listener drops 0.3-1 s backchannels into the talker's pauses or over the
talk, and about a fifth of the turns start before the last one ends (overlap). Every fourth call
is a one-speaker voicemail. All of it goes through a telephone line: 300-3400 Hz, 8 kHz, GSM 6.10.

Writes <out>/<name>.wav, <out>/<name>.rttm (one line per stretch of speech: a sentence or backchannel,
split at its pauses of 0.3 s or more) and <out>/manifest.jsonl (audio, rttm, duration, kind, speakers, text).
The sources are CC BY-NC-SA (TIMIT sample) and CC BY (speechocean762): the set is built on demand
and never committed (data/ is git-ignored).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, sosfiltfilt

SR = 16000
REPO = Path(__file__).resolve().parents[1]


def telephone(audio: np.ndarray, sr: int = SR) -> np.ndarray:
    """300-3400 Hz band, 8 kHz: the line; GSM 6.10 coding happens when written."""
    band = sosfiltfilt(butter(8, [300, 3400], btype="band", fs=sr, output="sos"), audio)
    return soxr.resample(band, sr, 8000, quality="HQ").astype(np.float32)


def trimmed(path: Path) -> np.ndarray:
    """A sentence at 16 kHz without the silence before and after it."""
    import librosa

    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(1)
    if sr != SR:
        audio = soxr.resample(audio, sr, SR)
    audio, _ = librosa.effects.trim(audio, top_db=top_db(audio), frame_length=400, hop_length=80)
    return audio / (np.abs(audio).max() + 1e-9) * 0.5


def top_db(audio: np.ndarray) -> float:
    """How far below its peak a frame still counts as speech: 35 dB, but at least 6 dB above the
    recording's noise floor (some speechocean762 recordings hiss at -22 dB)."""
    import librosa

    rms = librosa.feature.rms(y=audio, frame_length=400, hop_length=80)[0]
    floor = np.percentile(20 * np.log10(rms / (rms.max() + 1e-12) + 1e-12), 10)
    return float(min(35.0, -floor - 6.0))


def backchannel(audio: np.ndarray, rng: random.Random) -> np.ndarray:
    """0.3-1 s from the start of a sentence, cut at its quietest 20 ms there (a word's end)."""
    hop = SR // 50
    lo, hi = int(0.3 * SR), min(len(audio), int(1.0 * SR))
    if hi - lo < hop:
        return audio[: int(0.5 * SR)]
    energy = [float(np.mean(audio[i : i + hop] ** 2)) for i in range(lo, hi - hop + 1, hop)]
    cut = lo + hop * int(np.argmin(energy)) if rng.random() < 0.7 else rng.randrange(lo, hi)
    piece = audio[:cut].copy()
    fade = min(len(piece), SR // 100)
    piece[-fade:] *= np.linspace(1, 0, fade)
    return piece


def speakers(shared: Path) -> dict[str, dict]:
    """speaker id -> {"pool": source, "files": [paths]} for TIMIT, speechocean762 and LJ Speech."""
    out: dict[str, dict] = {}
    for folder, pool in (("timit_nltk_sample_16k", "timit"), ("speechocean762_test_subset_16k", "speechocean762")):
        for m in map(json.loads, open(shared / folder / "manifest.jsonl")):
            out.setdefault(f"{pool}:{m['speaker']}", {"pool": pool, "files": [], "texts": []})
            out[f"{pool}:{m['speaker']}"]["files"].append(shared / folder / m["audio"])
            out[f"{pool}:{m['speaker']}"]["texts"].append(m["text"])
    lj = [json.loads(line) for line in open(shared / "lj_read_22k" / "manifest.jsonl")]
    out["lj:LJ"] = {"pool": "lj", "files": [shared / "lj_read_22k" / m["audio"] for m in lj[:40]], "texts": [m["text"] for m in lj[:40]]}
    return out


class Tape:
    """Pieces placed on one timeline; the reference turns are where each piece sounds."""

    def __init__(self):
        self.pieces: list[tuple[float, np.ndarray, str, str]] = []  # start s, audio, speaker, text

    def put(self, start: float, audio: np.ndarray, speaker: str, text: str) -> float:
        self.pieces.append((max(0.0, start), audio, speaker, text))
        return max(0.0, start) + len(audio) / SR

    def render(self, gains: dict[str, float], lead: float = 0.5) -> np.ndarray:
        end = max(s + len(a) / SR for s, a, _, _ in self.pieces) + lead
        out = np.zeros(int((end + lead) * SR), np.float32)
        for s, a, who, _ in self.pieces:
            i = int((s + lead) * SR)
            out[i : i + len(a)] += a * gains[who]
        return out

    def rttm(self, name: str, lead: float = 0.5) -> str:
        """Where each piece sounds: its stretches of speech, split at pauses of 0.3 s or more
        (slow readers pause between words: that is not speech)."""
        import librosa

        lines = []
        for s, a, who, _ in sorted(self.pieces, key=lambda p: p[0]):
            spans: list[list[float]] = []
            for i, j in librosa.effects.split(a, top_db=top_db(a), frame_length=400, hop_length=80):
                if spans and i / SR - spans[-1][1] < 0.3:
                    spans[-1][1] = j / SR
                else:
                    spans.append([i / SR, j / SR])
            lines += [f"SPEAKER {name} 1 {s + lead + i:.3f} {j - i:.3f} <NA> <NA> {who} <NA> <NA>\n" for i, j in spans]
        return "".join(lines)


def dialogue(agent: dict, caller: dict, rng: random.Random) -> Tape:
    tape, t = Tape(), 0.0
    queues = {"agent": list(zip(agent["files"], agent["texts"])), "caller": list(zip(caller["files"], caller["texts"]))}
    for q in queues.values():
        rng.shuffle(q)
    who = "agent"  # the agent answers the call
    while queues["agent"] and queues["caller"]:
        other = "caller" if who == "agent" else "agent"
        n = min(len(queues[who]), rng.choice([1, 1, 2]))
        pauses = []
        for i in range(n):
            path, text = queues[who].pop()
            t = tape.put(t, trimmed(path), who, text)
            if i < n - 1:
                pauses.append(t)
                t += rng.uniform(0.3, 0.7)
        # A backchannel from the listener: in a pause of the turn, or over its last second.
        if len(queues[other]) > 1 and rng.random() < 0.6:
            path, _ = queues[other][-1]
            bc = backchannel(trimmed(path), rng)
            at = pauses[0] + 0.05 if pauses and rng.random() < 0.5 else t - rng.uniform(0.5, 1.2)
            tape.put(at, bc, other, "")
        # The next turn: a gap, or an overlap of up to 0.5 s about one time in five.
        t += -rng.uniform(0.1, 0.5) if rng.random() < 0.2 else rng.uniform(0.2, 1.0)
        who = other
    return tape


def voicemail(speaker: dict, rng: random.Random, seconds: float = 25.0) -> Tape:
    tape, t = Tape(), 0.0
    files = list(zip(speaker["files"], speaker["texts"]))
    rng.shuffle(files)
    for path, text in files:
        t = tape.put(t, trimmed(path), "caller", text) + rng.uniform(0.2, 0.8)
        if t > seconds:
            break
    return tape


def build(shared: Path, out: Path, calls: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    pool = speakers(shared)
    agents = [k for k, v in pool.items() if v["pool"] in ("timit", "lj")]
    callers = [k for k, v in pool.items() if v["pool"] in ("speechocean762", "timit")]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(calls):
        if i % 4 == 3:
            who = rng.choice(callers)
            tape, names = voicemail(pool[who], rng), {"caller": who}
            kind = "voicemail"
        else:
            a = rng.choice(agents)
            c = rng.choice([k for k in callers if k != a])
            tape, names, kind = dialogue(pool[a], pool[c], rng), {"agent": a, "caller": c}, "dialogue"
        name = f"twoparty_{i:02d}_{kind}"
        gains = {role: 10 ** (rng.uniform(-4, 2) / 20) for role in names}
        audio = telephone(tape.render(gains))
        audio *= 0.7 / (np.abs(audio).max() + 1e-9)
        sf.write(out / f"{name}.wav", audio, 8000, format="WAV", subtype="GSM610")
        (out / f"{name}.rttm").write_text(tape.rttm(name))
        text = " ".join(t for _, _, _, t in sorted(tape.pieces, key=lambda p: p[0]) if t)
        rows.append({"audio": f"{name}.wav", "rttm": f"{name}.rttm", "duration": round(len(audio) / 8000, 2), "kind": kind,
                     "speakers": names, "text": text,
                     "license": "derived from TIMIT sample (CC BY-NC-SA), speechocean762 (CC BY 4.0), LJ Speech (PD)"})
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "data" / "twoparty"))
    ap.add_argument("--calls", type=int, default=16)  # 12 dialogues and 4 voicemails (every fourth call)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = build(Path(args.shared), Path(args.out), args.calls, args.seed)
    print(f"{len(rows)} calls, {sum(r['duration'] for r in rows) / 60:.1f} min, in {args.out}")


if __name__ == "__main__":
    main()
