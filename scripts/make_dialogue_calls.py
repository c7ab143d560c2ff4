"""Build the real-call speaker set: SpokenWOZ service dialogues as mono GSM calls, with reference turns.

    python scripts/make_dialogue_calls.py --kame kame_finetune   # --shared ../shared/data --out data/spokenwoz

SpokenWOZ (CC BY-NC 4.0) recorded each dialogue in stereo, the caller on the left channel and the
agent on the right, with no bleed between them (the other party is 40-55 dB down). Six dialogues are
public: three in ../shared/data/spokenwoz_calls_8k/stereo, three more (SNG0696, SNG1263, SNG1640) in
github.com/SakanaAI/kame_finetune, data/spokenwoz_sample/audio (pass a clone as --kame).

Each becomes what the archive holds: the two channels mixed to one, 300-3400 Hz, 8 kHz, GSM 6.10.
The reference turns come from the clean channels, not from SpokenWOZ's own turn times (its word times
are spread evenly inside segments): Silero VAD on each channel, speech split at pauses of 0.3 s, so
every backchannel and every overlap is in the reference with edges to 30 ms.

Writes <out>/<name>.wav, <out>/<name>.rttm (speakers `caller` and `agent`) and <out>/manifest.jsonl.
Never committed (data/ is git-ignored: the licence is non-commercial).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callscribe import vad  # noqa: E402
from callscribe.audio import SAMPLE_RATE  # noqa: E402
from scripts.make_twoparty import telephone  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ROLES = ("caller", "agent")  # channel 0, channel 1
# Reference speech on a clean channel: Silero's default threshold, short pads, backchannels kept.
REFERENCE_VAD = dict(threshold=0.5, min_silence_duration_ms=300, speech_pad_ms=30, min_speech_duration_ms=100)


def sources(shared: Path, kame: Path | None) -> list[Path]:
    found = sorted((shared / "spokenwoz_calls_8k" / "stereo").glob("*.flac"))
    if kame is not None:
        folder = kame / "data" / "spokenwoz_sample" / "audio"
        found += [p for p in sorted(folder.glob("*.wav")) if p.stat().st_size and p.stem not in {f.stem for f in found}]
    return found


def reference(stereo: np.ndarray, sr: int, name: str) -> str:
    """RTTM lines: each channel's speech, named by its party."""
    lines = []
    for channel, role in enumerate(ROLES):
        audio = soxr.resample(stereo[:, channel], sr, SAMPLE_RATE).astype(np.float32)
        for a, b in vad.speech_regions(audio, REFERENCE_VAD):
            lines.append((a / SAMPLE_RATE, b / SAMPLE_RATE, role))
    return "".join(f"SPEAKER {name} 1 {s:.3f} {e - s:.3f} <NA> <NA> {who} <NA> <NA>\n" for s, e, who in sorted(lines))


def build(shared: Path, kame: Path | None, out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sources(shared, kame):
        stereo, sr = sf.read(path, dtype="float32", always_2d=True)
        name = path.stem
        mono = telephone(stereo.mean(1), sr) if sr != 8000 else _band(stereo.mean(1))
        mono *= 0.7 / (np.abs(mono).max() + 1e-9)
        sf.write(out / f"{name}.wav", mono, 8000, format="WAV", subtype="GSM610")
        (out / f"{name}.rttm").write_text(reference(stereo, sr, name))
        rows.append({"audio": f"{name}.wav", "rttm": f"{name}.rttm", "duration": round(len(mono) / 8000, 2), "kind": "dialogue",
                     "speakers": {"caller": f"{name}_A", "agent": f"{name}_B"}, "source": str(path.name),
                     "license": "CC BY-NC 4.0 (SpokenWOZ)"})
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _band(audio: np.ndarray) -> np.ndarray:
    """Already 8 kHz: only the 300-3400 Hz line."""
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(8, [300, 3400], btype="band", fs=8000, output="sos"), audio).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--kame", help="a clone of github.com/SakanaAI/kame_finetune (three more dialogues)")
    ap.add_argument("--out", default=str(REPO / "data" / "spokenwoz"))
    args = ap.parse_args()
    rows = build(Path(args.shared), Path(args.kame) if args.kame else None, Path(args.out))
    print(f"{len(rows)} calls, {sum(r['duration'] for r in rows) / 60:.1f} min, in {args.out}")


if __name__ == "__main__":
    main()
