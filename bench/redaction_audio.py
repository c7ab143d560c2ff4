"""Redaction after ASR: labelled calls spoken, sent through the telephone line, transcribed, redacted.

    python bench/redaction_audio.py [--per-kind 6] [--json out.json] [--keep DIR]

Three sets, all through GSM 6.10 at 8 kHz (sox: sinc 300-3400) and Whisper base (the pipeline's
default engine):
- synthetic: calls from the labelled transcripts (tests/data/redaction/transcripts.jsonl), the
  agent and the caller in two espeak-ng voices;
- fsdd: real human voices reading card numbers digit by digit (Free Spoken Digit Dataset, GSM
  copies in ../shared/data/gsm8k, read there, never copied), after an espeak-ng agent asking for
  the card;
- woz: the three SpokenWOZ service calls (real people on a phone line), labelled below.
An entity is caught when a span of its kind was found in the call and none of its digits run on
unmasked (4 or more of its digits in a row in the redacted text; for e-mails, the name before @).
A span is a false positive when its call holds no entity of its kind (or more spans than entities).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.redaction import MARK, SET  # noqa: E402
from bench.redaction_set import UNIT  # noqa: E402
from callscribe.records import Transcript  # noqa: E402
from callscribe.redact import KINDS, RedactSettings, find, redact  # noqa: E402
from callscribe.spoken import normalise  # noqa: E402

# Of espeak-ng's voices tried through GSM on Whisper base, these two had the fewest digits misheard.
VOICES = {"agent": "en-us+f2", "caller": "en-us+f4"}
SHARED = Path(os.environ.get("CALLSCRIBE_SHARED", Path(__file__).resolve().parents[2] / "shared" / "data"))


# The personal data in the SpokenWOZ calls' reference transcripts (what the labels mark; everything else
# there, train times, prices, a train id, a car plate, is left alone).
SPOKENWOZ = {
    "MUL1423": [["caller", "and then the address it's a unit [[address: 8 viking way]] bar hill"]],
    "SNG0072": [["caller", "the address is on the [[address: 1 5 1 hills road]]"], ["caller", "phone number please [[phone: 1223247942]]"]],
    "SNG0480": [["caller", "my name is cheryl turner"]],
}


def plain(text: str) -> str:
    """What the speaker says: the marks dropped, and numerals (the labelled set's "as ASR writes it"
    form) read digit by digit, as a caller reads a card, not "four thousand one hundred"."""
    def digit_by_digit(m):
        if m.group(1) not in ("card", "ssn", "phone", "policy"):
            return m.group(2)
        return re.sub(r"\d+", lambda d: " ".join(UNIT[int(c)] for c in d.group()), m.group(2))

    return MARK.sub(digit_by_digit, text)


def speak(text: str, voice: str, sr: int = 16000) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "t.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "145", "-g", "6", "-w", str(wav), text], check=True, capture_output=True)
        x, r = sf.read(str(wav), dtype="float32")
    import soxr

    return soxr.resample(x, r, sr)


def telephone(x: np.ndarray, sr: int, dst: Path) -> None:
    """Write `x` as the phone system does: GSM 6.10, 8 kHz mono, telephone band."""
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.wav"
        sf.write(str(src), x, sr, subtype="PCM_16")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["sox", "-R", str(src), "-r", "8000", "-c", "1", "-e", "gsm-full-rate", str(dst), "sinc", "300-3400"],
                       check=True, capture_output=True)


def speak_call(turns: list, dst: Path, sr: int = 16000) -> None:
    """The call's turns spoken in two voices, 0.5 s apart, written as a GSM phone recording."""
    gap = np.zeros(int(0.5 * sr), dtype=np.float32)
    parts = [gap]
    for speaker, text in turns:
        parts += [speak(plain(text), VOICES.get(speaker, "en-us"), sr), gap]
    telephone(np.concatenate(parts) * 0.8, sr, dst)


def fsdd_card_call(digits: str, dst: Path, rng: random.Random, fsdd: Path, sr: int = 16000) -> None:
    """A card number read by a real speaker (FSDD clips), after an espeak-ng agent's question."""
    import soxr

    speaker = rng.choice(["jackson", "nicolas", "theo", "yweweler", "george", "lucas"])
    question = speak("Can I have the card number please?", VOICES["agent"], sr)
    parts = [np.zeros(int(0.4 * sr), np.float32), question, np.zeros(int(0.6 * sr), np.float32)]
    for i, c in enumerate(digits):
        clips = sorted(fsdd.glob(f"{c}_{speaker}_*.wav"))
        x, r = sf.read(str(rng.choice(clips)), dtype="float32")
        parts.append(soxr.resample(x, r, sr))
        pause = 0.6 if i % 4 == 3 else rng.uniform(0.05, 0.15)
        parts.append(np.zeros(int(pause * sr), np.float32))
    telephone(np.concatenate(parts), sr, dst)


def values(call: dict) -> dict[str, str]:
    """Each marked kind's value as written (digits for numbers, the address for e-mails)."""
    out = {}
    for speaker, text in call["turns"]:
        for m in MARK.finditer(text):
            out.setdefault(m.group(1), []).append(m.group(2))
    return {k: normalise(" ".join(v).split()).text for k, v in out.items()}


def leaked(kind: str, value: str, redacted_text: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if kind == "email":
        local = value.split("@")[0].replace(".", "")
        return bool(local) and local in re.sub(r"[^a-z0-9]", "", redacted_text.lower())
    if kind in ("card", "ssn", "phone", "policy") and len(digits) >= 4:
        text_digits = re.findall(r"\d{4,}", redacted_text)
        return any(digits[i:i + 4] in run for run in text_digits for i in range(len(digits) - 3))
    return False


def transcribe(wavs: list[Path], out: Path) -> dict[str, Transcript]:
    from callscribe.calls import Job
    from callscribe.runner import run
    from callscribe.settings import TranscribeSettings

    settings = TranscribeSettings.from_params({"engine": "faster-whisper", "diarize": False, "workers": 2})
    from callscribe.profile import sha256_file

    jobs = [Job(w.stem, str(w), sha256_file(w), sf.info(str(w)).duration) for w in wavs]
    run(jobs, out, settings, formats=("json",), progress=False)
    done = [w.stem for w in wavs if (out / f"{w.stem}.json").exists()]
    return {stem: Transcript.from_dict(json.loads((out / f"{stem}.json").read_text())) for stem in done}


def heard(kind: str, value: str, text: str) -> bool:
    """Did ASR write the value at all (every digit in order; the e-mail's name; the date's year; the house number)?"""
    if kind == "email":
        return leaked(kind, value, text)
    digits = re.sub(r"\D", "", value)
    if kind in ("card", "ssn", "phone", "policy"):
        return digits in re.sub(r"\D", "", text)
    first = re.findall(r"\d+", value)
    return bool(first) and (first[-1] if kind == "dob" else first[0]) in re.findall(r"\d+", text)


def score(calls: dict[str, dict], transcripts: dict[str, Transcript], settings: RedactSettings) -> dict:
    tp, fn, fp, n_ent, n_heard, tp_heard, left = Counter(), Counter(), Counter(), Counter(), Counter(), Counter(), Counter()
    notes = []
    scored = 0
    for cid, call in calls.items():
        t = transcripts.get(cid)
        if t is None:
            continue
        scored += 1
        words = [w.word for s in t.segments for w in (s.words or [])]
        found = find(words, settings)
        red = redact(t, settings).transcript
        red_norm = normalise([w.word for s in red.segments for w in (s.words or [])]).text
        raw_norm = normalise(words).text
        kinds_found = Counter(f.kind for f in found)
        vals = values(call)
        for kind, value in vals.items():
            n_ent[kind] += 1
            leak = leaked(kind, value, red_norm)
            ok = kinds_found[kind] > 0 and not leak
            tp[kind] += ok
            fn[kind] += not ok
            left[kind] += leak
            if heard(kind, value, raw_norm):
                n_heard[kind] += 1
                tp_heard[kind] += ok
            if not ok:
                notes.append({"call": cid, "kind": kind, "heard": t.text, "found": [f.kind for f in found]})
        for kind, n in kinds_found.items():
            extra = n - (1 if kind in vals else 0)
            if extra > 0:
                fp[kind] += extra
                notes.append({"call": cid, "false_positive": kind, "heard": t.text})
    by_kind = {k: {"entities": n_ent[k], "caught": tp[k], "false_positives": fp[k], "digits_left": left[k],
                   "recall": round(tp[k] / n_ent[k], 3) if n_ent[k] else None,
                   "precision": round(tp[k] / (tp[k] + fp[k]), 3) if tp[k] + fp[k] else None,
                   "heard_by_asr": n_heard[k], "caught_of_heard": tp_heard[k],
                   "recall_of_heard": round(tp_heard[k] / n_heard[k], 3) if n_heard[k] else None} for k in KINDS}
    return {"calls": scored, "by_kind": by_kind, "notes": notes}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-kind", type=int, default=6, help="single-kind calls per kind from the labelled set")
    ap.add_argument("--fsdd", type=int, default=12, help="card numbers read by FSDD speakers (needs ../shared)")
    ap.add_argument("--spokenwoz", type=int, default=1, help="also the three SpokenWOZ calls (needs ../shared)")
    ap.add_argument("--json")
    ap.add_argument("--keep", help="keep the audio and transcripts here")
    args = ap.parse_args()
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install {tool} (scripts/debian-packages.txt)")
    labelled = [json.loads(line) for line in SET.read_text().splitlines()]
    pick = [c for k in ("card", "ssn", "dob", "policy", "phone", "email", "address")
            for c in [c for c in labelled if c["id"].startswith(f"{k}_call-")][: args.per_kind]]
    pick += [c for c in labelled if c["id"].startswith("mixed-")][: args.per_kind]
    pick += [c for c in labelled if c["id"].startswith("lookalike-")]
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="redaction_audio_"))
    calls = {}
    for c in pick:
        dst = work / "audio" / f"{c['id']}.wav"
        said = json.dumps([[who, plain(text)] for who, text in c["turns"]])
        known = dst.with_suffix(".txt")
        if not dst.exists() or not known.exists() or known.read_text() != said:  # made again when what is said changed
            speak_call(c["turns"], dst)
            known.write_text(said)
        calls[c["id"]] = c
    fsdd = SHARED / "gsm8k" / "fsdd_digits_8k"
    if args.fsdd and fsdd.exists():
        from bench.redaction_set import card_number

        rng = random.Random(15)
        clips = next(p for p in [fsdd / "recordings", fsdd] if any(p.glob("0_*.wav")))
        for i in range(args.fsdd):
            value = card_number()
            cid = f"fsdd-card-{i:02d}"
            dst = work / "audio" / f"{cid}.wav"
            fsdd_card_call(value, dst, rng, clips)
            calls[cid] = {"id": cid, "turns": [["agent", "Can I have the card number please?"], ["caller", f"[[card: {value}]]"]]}
    woz = SHARED / "gsm8k" / "spokenwoz_calls_8k"
    if args.spokenwoz and woz.exists():  # real two-person calls on a phone line (CC BY-NC: read there, never copied)
        for cid, turns in SPOKENWOZ.items():
            shutil.copyfile(woz / f"{cid}.wav", work / "audio" / f"woz-{cid}.wav")
            calls[f"woz-{cid}"] = {"id": f"woz-{cid}", "turns": turns}
    transcripts = transcribe(sorted((work / "audio").glob("*.wav")), work / "transcripts")
    settings = RedactSettings(enabled=True)
    result = {"synthetic": score({k: v for k, v in calls.items() if not k.startswith(("fsdd", "woz"))}, transcripts, settings)}
    for name in ("fsdd", "woz"):
        if any(k.startswith(name) for k in calls):
            result[name] = score({k: v for k, v in calls.items() if k.startswith(name)}, transcripts, settings)
    for name, r in result.items():
        print(f"{name}: {r['calls']} calls\n| kind | entities | caught | recall | false positives | precision | "
              "written whole by ASR | caught of those | recall of those | some digits left |\n|---|---|---|---|---|---|---|---|---|---|")
        for k, v in r["by_kind"].items():
            if v["entities"] or v["false_positives"]:
                print(f"| {k} | {v['entities']} | {v['caught']} | {v['recall']} | {v['false_positives']} | {v['precision']} | "
                      f"{v['heard_by_asr']} | {v['caught_of_heard']} | {v['recall_of_heard']} | {v['digits_left']} |")
        for note in r["notes"]:
            print(json.dumps(note))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
