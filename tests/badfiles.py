"""The odd, broken and hostile inputs a real archive holds, built on the fly from the samples.

Nothing here is committed as audio: each file is made from the 11 s JFK sample call (real speech
through a telephone line) with soundfile (PCM, mu-law, A-law, GSM) and PyAV (MP3).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from callscribe.audio import load_audio, resample
from tests.helpers import find_sample

JFK = "1758662274"
JFK_WORDS = "what your country can do for you"  # the right audio, whole; "ask"/"asked" before it varies with beam and codec

# name -> (status from `callscribe transcribe`, status in the pipeline's calls.jsonl, words the text must hold)
# The pipeline's filter stage drops unreadable and near-empty files before transcription: "filtered".
EXPECTED = {
    "header only.wav": ("no_speech", "filtered", None),
    "empty.wav": ("error", "filtered", None),
    "random bytes.WAV": ("error", "filtered", None),
    "truncated gsm.wav": ("ok", "ok", "my fellow americans"),  # the first half, all that is there
    "header lies about length.wav": ("ok", "ok", JFK_WORDS),
    "mp3 named.wav": ("ok", "ok", JFK_WORDS),
    "pcm 44k stereo.wav": ("ok", "ok", JFK_WORDS),
    "mulaw 8k.wav": ("ok", "ok", JFK_WORDS),
    "alaw 8k.wav": ("ok", "ok", JFK_WORDS),
    "pcm 24bit.wav": ("ok", "ok", JFK_WORDS),
    "nested/deeper/appel reçu été 電話 +1 (555).wav": ("ok", "ok", JFK_WORDS),
    "silence.wav": ("no_speech", "no_speech", None),
    "tone 1kHz.wav": ("no_speech", "no_speech", None),
    "hold music and DTMF.wav": ("no_speech", "no_speech", None),
}


def jfk_8k(sample_audio: Path) -> np.ndarray:
    return load_audio(find_sample(sample_audio, JFK), 8000)[0]


def write_mp3(path: Path, audio: np.ndarray, sr: int) -> None:
    import av

    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("mp3", rate=sr)
        stream.layout = "mono"
        stream.bit_rate = 32000
        frame = av.AudioFrame.from_ndarray((audio * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def hold_music(sr: int, seconds: float) -> np.ndarray:
    """A synthetic melody with harmonics over a bass line, then DTMF key tones: what sits on hold."""
    def note(f, dur):
        t = np.arange(int(sr * dur)) / sr
        return np.minimum(1, t * 50) * np.exp(-2 * t) * sum(0.5**k * np.sin(2 * np.pi * f * (k + 1) * t) for k in range(5))

    melody = np.concatenate([note(f, 0.5) for f in [262, 294, 330, 349, 392, 440, 494, 523] * 4])
    n = np.arange(800)
    keys = np.concatenate([np.r_[0.2 * (np.sin(2 * np.pi * a * n / sr) + np.sin(2 * np.pi * b * n / sr)), np.zeros(800)]
                           for a, b in [(697, 1209), (770, 1336), (852, 1477), (941, 1633)] * 3])
    out = np.r_[0.3 * melody, keys]
    return out[: int(sr * seconds)]


def make_bad_files(folder: Path, sample_audio: Path) -> dict[str, tuple[str, str, str | None]]:
    """Write every case of EXPECTED under `folder`; returns EXPECTED."""
    folder.mkdir(parents=True, exist_ok=True)
    speech = jfk_8k(sample_audio)
    gsm = find_sample(sample_audio, JFK).read_bytes()
    rng = np.random.default_rng(5)

    sf.write(folder / "header only.wav", np.zeros(0), 8000, subtype="GSM610")
    (folder / "empty.wav").write_bytes(b"")
    (folder / "random bytes.WAV").write_bytes(rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    (folder / "truncated gsm.wav").write_bytes(gsm[: len(gsm) // 2 + 17])  # cut mid-block
    pcm = folder / "header lies about length.wav"
    sf.write(pcm, speech, 8000, subtype="PCM_16")
    data = bytearray(pcm.read_bytes())
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", 0x7FFF0000)  # declares ~37 h of audio
    data[4:8] = struct.pack("<I", 0x7FFF0000 + at)
    pcm.write_bytes(bytes(data))
    write_mp3(folder / "mp3 named.wav", speech, 8000)
    wide = resample(speech[None, :], 8000, 44100)[0]
    sf.write(folder / "pcm 44k stereo.wav", np.stack([wide, 0.5 * wide], axis=1), 44100, subtype="PCM_16")
    sf.write(folder / "mulaw 8k.wav", speech, 8000, subtype="ULAW")
    sf.write(folder / "alaw 8k.wav", speech, 8000, subtype="ALAW")
    sf.write(folder / "pcm 24bit.wav", resample(speech[None, :], 8000, 16000)[0], 16000, subtype="PCM_24")
    nested = folder / "nested/deeper/appel reçu été 電話 +1 (555).wav"
    nested.parent.mkdir(parents=True, exist_ok=True)
    sf.write(nested, speech, 8000, subtype="GSM610")
    sf.write(folder / "silence.wav", np.zeros(8000 * 8), 8000, subtype="GSM610")
    t = np.arange(8000 * 8) / 8000
    sf.write(folder / "tone 1kHz.wav", 0.3 * np.sin(2 * np.pi * 1000 * t), 8000, subtype="GSM610")
    sf.write(folder / "hold music and DTMF.wav", hold_music(8000, 20), 8000, subtype="GSM610")
    return EXPECTED


def long_gsm(path: Path, minutes: int) -> None:
    """A GSM WAV of `minutes` of low noise, made fast: one minute encoded, its 65-byte frames repeated."""
    one = path.with_name(".one-minute.wav")
    sf.write(one, 0.01 * np.random.default_rng(0).standard_normal(8000 * 60), 8000, subtype="GSM610")
    data = one.read_bytes()
    one.unlink()
    at = data.find(b"data")
    frames = data[at + 8 :]
    assert len(frames) % 65 == 0
    header = bytearray(data[: at + 8])
    header[at + 4 : at + 8] = struct.pack("<I", len(frames) * minutes)
    header[4:8] = struct.pack("<I", len(header) - 8 + len(frames) * minutes)
    fact = header.find(b"fact")
    header[fact + 8 : fact + 12] = struct.pack("<I", 8000 * 60 * minutes)
    with open(path, "wb") as f:
        f.write(header)
        for _ in range(minutes):
            f.write(frames)
