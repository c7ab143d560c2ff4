import re

import numpy as np
import pytest
import soundfile as sf

from callscribe.audio import SAMPLE_RATE, AudioError, load_audio, probe, resample
from callscribe.profile import profile_file
from tests.helpers import find_sample


def test_gsm_call_decodes_at_its_true_length(sample_audio):
    jfk = find_sample(sample_audio, "1758662274")  # jfk, 11 s
    info = probe(jfk)
    assert (info.codec, info.sample_rate, info.channels) == ("gsm610", 8000, 1)
    assert info.duration == pytest.approx(11.0, abs=0.05)
    audio = load_audio(jfk)
    assert audio.shape[0] == 1 and audio.shape[1] == pytest.approx(11.0 * SAMPLE_RATE, abs=0.05 * SAMPLE_RATE)
    assert 0.01 < np.sqrt(np.mean(audio**2)) < 0.5


def test_stereo_call_keeps_both_channels(sample_audio):
    stereo = next(p for p in sample_audio.rglob("*.WAV") if sf.info(str(p)).channels == 2)
    audio = load_audio(stereo)
    assert audio.shape[0] == 2
    assert not np.allclose(audio[0], audio[1])


def test_resampling_keeps_the_tone_and_adds_no_image():
    t = np.arange(8000) / 8000
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)[None, :]
    out = resample(tone, 8000)[0]
    spectrum = np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(len(out), 1 / SAMPLE_RATE)
    assert abs(freqs[spectrum.argmax()] - 1000) < 5
    # Naive sample repetition would mirror the tone at 7 kHz.
    assert spectrum[(freqs > 6500) & (freqs < 7500)].max() < 1e-3 * spectrum.max()


def test_empty_and_header_only_files(tmp_path, sample_audio):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(empty)
    header_only = next(p for p in sample_audio.rglob("*") if p.is_file() and p.stat().st_size == 60)
    assert probe(header_only).duration == 0


# Every codec the issue names (G.711, IMA/MS ADPCM, GSM, PCM 8-32 bit, float), in plain and extensible WAVs.
CODECS = ["ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM", "GSM610", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", CODECS)
def test_every_supported_codec_decodes(subtype, container, sample_audio, tmp_path):
    if container == "WAVEX" and subtype in ("GSM610", "IMA_ADPCM", "MS_ADPCM"):
        pytest.skip("libsndfile writes these only in a plain WAV")
    speech = load_audio(find_sample(sample_audio, "1758662274"), 8000)[0]
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, speech, 8000, subtype=subtype, format=container)
    info = probe(path)
    assert (info.sample_rate, info.channels) == (8000, 1) and info.duration == pytest.approx(11.0, abs=0.1)  # ADPCM pads its last block
    out = load_audio(path, 8000)[0][: len(speech)]
    # The same waveform back: lossless codecs exactly, the lossy ones (G.711, ADPCM, GSM) close to it.
    n = min(len(out), len(speech))
    corr = np.corrcoef(out[:n], speech[:n])[0, 1]
    assert corr > (0.999 if subtype.startswith(("PCM", "FLOAT", "DOUBLE")) and subtype != "PCM_U8" else 0.9), corr


@pytest.mark.parametrize("tag,name", [(0x1234, ""), (0x0133, " (G.729)"), (0x0055, " (MP3)"), (0x0000, "")])
def test_unknown_codecs_are_refused_with_their_tag_and_the_fix(tag, name, sample_audio, tmp_path):
    path = tmp_path / "vendor.wav"
    sf.write(path, load_audio(find_sample(sample_audio, "1758662274"), 8000)[0], 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[20:22] = tag.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError, match=rf"unknown codec 0x{tag:04x}{re.escape(name)} in the WAV header.*ffmpeg"):
        load_audio(path)
    row = profile_file(path, tmp_path)  # refused up front: the filter drops it, so no worker sees it
    assert not row["readable"] and f"unknown codec 0x{tag:04x}" in row["error"]


def test_damaged_headers_are_refused_not_trusted(sample_audio, tmp_path):
    path = tmp_path / "rate.wav"
    sf.write(path, load_audio(find_sample(sample_audio, "1758662274"), 8000)[0], 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = (1).to_bytes(4, "little")  # 1 Hz: 11 s of audio would resample into gigabytes
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError, match="sample rate of 1 Hz"):
        load_audio(path)
    nan = tmp_path / "nan.wav"
    audio = np.full(8000, 0.1, np.float32)
    audio[100:200] = np.nan
    sf.write(nan, audio, 8000, subtype="FLOAT")
    assert np.isfinite(load_audio(nan)).all()  # NaN would spoil every call packed with it
