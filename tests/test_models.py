"""Model names: the bundled sizes load offline; a name that cannot load stops before any worker starts."""

import os
import subprocess
import sys

import pytest

from callscribe.audio import load_audio
from callscribe.engines import load_engine
from callscribe.models import ModelError, check_model
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import transcribe_audio
from tests.helpers import REPO, find_sample

OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


def test_bundled_tiny_en_transcribes_offline(sample_audio):
    settings = TranscribeSettings(engine="faster-whisper", model="tiny.en", workers=1, diarize=False).resolved()
    check_model(settings)
    engine = load_engine(settings)
    assert engine.versions["model_sha256"].startswith("1a5afae06a4d")
    transcript, _ = transcribe_audio(engine, load_audio(find_sample(sample_audio, "1758662274")), settings)
    assert "ask not what your country can do for you" in transcript.text.lower()


def test_a_folder_without_the_model_files_is_refused(tmp_path):
    with pytest.raises(ModelError, match="has no model.bin, config.json"):
        check_model(TranscribeSettings(engine="faster-whisper", model=str(tmp_path), workers=1).resolved())


def test_an_unusable_name_stops_at_once_listing_what_works(tmp_path, sample_audio):
    """`tiny` (multilingual) is not bundled and, offline, not downloadable: one message, exit 2, no worker."""
    out = subprocess.run([sys.executable, "-m", "callscribe.cli", "transcribe", str(sample_audio), "-o", str(tmp_path / "out"),
                          "--model", "tiny", "--engine", "faster-whisper"], capture_output=True, text=True, env=OFFLINE, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "base, tiny.en" in out.stderr and "local folder" in out.stderr
    assert "Systran/faster-whisper-tiny" in out.stderr and "online only" in out.stderr
    assert not (tmp_path / "out" / "journal.jsonl").exists()
