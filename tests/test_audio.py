import numpy as np
import pytest
import soundfile as sf

from callscribe.audio import SAMPLE_RATE, AudioError, load_audio, probe, resample
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
