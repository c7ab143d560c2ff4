"""Audio decoding: every file callscribe reads goes through this module.

soundfile (libsndfile) reads the phone system's GSM 6.10 WAVs and plain PCM/mu-law/A-law;
PyAV (FFmpeg) is the fallback for anything else. Resampling uses soxr, never naive indexing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000  # what the models take


class AudioError(Exception):
    """A file that cannot be decoded; the message says why and what to do."""


@dataclass
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    duration: float  # seconds of audio actually decodable


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
    with container:
        if not container.streams.audio:
            raise AudioError("no audio stream in the file")
        stream = container.streams.audio[0]
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
    try:
        return _read_soundfile(path)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return _read_pyav(path)


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


def to_mono(audio: np.ndarray) -> np.ndarray:
    return audio.mean(axis=0) if audio.shape[0] > 1 else audio[0]


def probe(path: str | Path) -> AudioInfo:
    """Codec, rate, channels and the duration that really decodes (headers can lie)."""
    data, sr, codec = decode(path)
    return AudioInfo(codec=codec, sample_rate=sr, channels=data.shape[0], duration=data.shape[1] / sr)
