"""Audio decoding: every file callscribe reads goes through this module.

soundfile (libsndfile) reads the phone system's GSM 6.10 WAVs and PCM, float, mu-law/A-law and
IMA/MS ADPCM; PyAV (FFmpeg) is the fallback for other containers (an MP3 named .wav). A WAV whose
codec tag is none of these is refused before any decoder sees it. Resampling uses soxr.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000  # what the models take
MIN_RATE, MAX_RATE = 2000, 768000  # outside this a header is damaged: a rate of 1 Hz would resample 11 s into gigabytes

# WAVE format tags that decode (tests/test_audio.py::test_every_supported_codec_decodes); any other is refused.
SUPPORTED_TAGS = {0x0001: "PCM", 0x0002: "MS ADPCM", 0x0003: "IEEE float", 0x0006: "A-law", 0x0007: "mu-law",
                  0x0011: "IMA ADPCM", 0x0031: "GSM 6.10"}
# Tags phone systems write that callscribe does not decode, named in the error.
KNOWN_TAGS = {0x0014: "G.723 ADPCM", 0x0022: "TrueSpeech", 0x0040: "G.721 ADPCM", 0x0042: "G.723.1", 0x0045: "G.726",
              0x0050: "MPEG", 0x0055: "MP3", 0x0064: "G.726 ADPCM", 0x0065: "G.722", 0x0083: "G.729", 0x0133: "G.729",
              0x0134: "G.729A", 0x0161: "WMA", 0x00FF: "AAC", 0x1600: "AAC", 0xA100: "G.723.1", 0xA109: "Speex"}
EXTENSIBLE = 0xFFFE  # the real tag is the first two bytes of the fmt chunk's sub-format GUID


class AudioError(Exception):
    """A file that cannot be decoded; the message says why and what to do."""


@dataclass
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    duration: float  # seconds of audio actually decodable


def wav_format_tag(path: Path) -> int | None:
    """The codec tag in a RIFF/RIFX/RF64 WAVE file's fmt chunk; None if the file is no WAVE or has no
    readable fmt chunk (the decoders then say what is wrong)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
            return None
        endian = ">" if head[:4] == b"RIFX" else "<"
        for _ in range(64):  # chunks before fmt: a few at most (JUNK, bext, LIST)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            size = struct.unpack(endian + "I", chunk[4:])[0]
            if chunk[:4] == b"fmt ":
                fmt = f.read(min(size, 40))
                if len(fmt) < 2:
                    return None
                tag = struct.unpack(endian + "H", fmt[:2])[0]
                if tag == EXTENSIBLE and len(fmt) >= 26:
                    tag = struct.unpack(endian + "H", fmt[24:26])[0]
                return tag
            f.seek(size + size % 2, 1)
    return None


def _check_tag(path: Path) -> None:
    tag = wav_format_tag(path)
    if tag is not None and tag not in SUPPORTED_TAGS:
        name = f" ({KNOWN_TAGS[tag]})" if tag in KNOWN_TAGS else ""
        raise AudioError(
            f"unknown codec 0x{tag:04x}{name} in the WAV header: callscribe decodes PCM, float, mu-law, A-law, IMA/MS ADPCM "
            "and GSM 6.10. Convert it with ffmpeg (`ffmpeg -i FILE -c:a pcm_s16le OUT.wav`) or sox, or export it from the "
            "phone system as PCM or GSM; or leave it out with the filter params"
        )


def _read_soundfile(path: Path) -> tuple[np.ndarray, int, str]:
    with sf.SoundFile(str(path)) as f:
        sr, codec = f.samplerate, f.subtype.lower()
        # Read in blocks: GSM is not seekable in libsndfile, and a header may declare
        # more frames than the file holds.
        blocks = []
        while True:
            block = f.read(1 << 16, dtype="float32", always_2d=True)
            if not len(block):
                break
            blocks.append(block)
        channels = f.channels
    data = np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)
    return np.ascontiguousarray(data.T), sr, codec


def _read_pyav(path: Path) -> tuple[np.ndarray, int, str]:
    import av

    try:
        container = av.open(str(path))
    except Exception as e:  # noqa: BLE001 - PyAV raises many types
        raise AudioError(f"not a readable audio file ({type(e).__name__}: {e})") from e
    try:
        return _decode_container(av, container)
    except AudioError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged file must give a reason, not a crash
        raise AudioError(f"not a readable audio file ({type(e).__name__}: {e})") from e
    finally:
        container.close()


def _decode_container(av, container) -> tuple[np.ndarray, int, str]:
    if not container.streams.audio:
        raise AudioError("no audio stream in the file")
    stream = container.streams.audio[0]
    if stream.codec_context is None:  # FFmpeg has no decoder for it
        raise AudioError("no decoder for its audio codec; convert it with ffmpeg or sox to PCM or GSM WAV")
    codec = stream.codec_context.name
    sr = stream.codec_context.sample_rate
    channels = stream.codec_context.channels or 1
    # Convert every frame to float planar so all codecs come out alike.
    resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=sr)
    frames = []
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                frames.append(out.to_ndarray())
    except av.error.FFmpegError:
        # sox-written gsm_ms files end with a pad packet that raises after all audio decoded.
        if not frames:
            raise AudioError("the audio data cannot be decoded (corrupt or truncated file)")
    if not frames:
        return np.zeros((channels, 0), np.float32), sr or 8000, codec
    return np.ascontiguousarray(np.concatenate(frames, axis=1), dtype=np.float32), sr, codec


def decode(path: str | Path) -> tuple[np.ndarray, int, str]:
    """Decode a file to float32 of shape (channels, samples), its native rate and codec name."""
    path = Path(path)
    if not path.is_file():
        raise AudioError("file not found")
    if path.stat().st_size == 0:
        raise AudioError("the file is empty (0 bytes)")
    _check_tag(path)
    try:
        data, sr, codec = _read_soundfile(path)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        data, sr, codec = _read_pyav(path)
    if not MIN_RATE <= sr <= MAX_RATE:
        raise AudioError(f"the header declares a sample rate of {sr} Hz (the header is damaged); re-export the file")
    if not np.isfinite(data).all():  # a damaged float WAV: NaN would spoil every call packed with it
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    return data, sr, codec


def resample(audio: np.ndarray, sr: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample (channels, samples) float32 audio with soxr's high-quality filter."""
    if sr == target or audio.shape[-1] == 0:
        return np.ascontiguousarray(audio, dtype=np.float32)
    out = soxr.resample(audio.T, sr, target, quality="HQ")
    return np.ascontiguousarray(out.T if out.ndim == 2 else out[None, :], dtype=np.float32)


def load_audio(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Decode and resample to `sr`, keeping channels: returns float32 (channels, samples)."""
    data, native_sr, _ = decode(path)
    return resample(data, native_sr, sr)


def cut_at_pauses(audio: np.ndarray, max_seconds: float, sr: int = SAMPLE_RATE) -> list[tuple[int, int]]:
    """Cut mono audio into pieces of at most `max_seconds`, each cut at the quietest half
    second in the last quarter of its window: a pause, not the middle of a word."""
    n, limit = len(audio), int(max_seconds * sr)
    if n <= limit:
        return [(0, n)]
    hop = sr // 10
    energy = np.sqrt(np.convolve(np.square(audio, dtype=np.float64)[: n - n % hop].reshape(-1, hop).mean(1), np.ones(5) / 5, "same"))
    out, start = [], 0
    while n - start > limit:
        lo, hi = (start + limit * 3 // 4) // hop, (start + limit) // hop
        cut = (lo + int(np.argmin(energy[lo:hi]))) * hop
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def to_mono(audio: np.ndarray) -> np.ndarray:
    return audio.mean(axis=0) if audio.shape[0] > 1 else audio[0]


def probe(path: str | Path) -> AudioInfo:
    """Codec, rate, channels and the duration that really decodes (headers can lie)."""
    data, sr, codec = decode(path)
    return AudioInfo(codec=codec, sample_rate=sr, channels=data.shape[0], duration=data.shape[1] / sr)
