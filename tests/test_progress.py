"""The progress bar moves piece by piece through a long call, not only when the call is done (issue 10, #8)."""

import pytest
from tqdm import tqdm

import callscribe.runner as runner
from callscribe.calls import Job
from callscribe.runner import run
from callscribe.settings import TranscribeSettings
from tests.helpers import find_sample

LONG_CALL, JFK = "1758833185", "1758662274"  # 300 s of read speech; 11 s


class RecordingBar(tqdm):
    steps: list = []

    def update(self, n=1):
        RecordingBar.steps.append(n)
        return super().update(n)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])  # in this process, and through the worker processes' queue
def test_the_bar_advances_per_piece_of_a_long_call(sample_audio, tmp_path, monkeypatch, workers):
    monkeypatch.setattr(runner, "tqdm", RecordingBar)
    RecordingBar.steps = []
    long_call, short = find_sample(sample_audio, LONG_CALL), find_sample(sample_audio, JFK)
    jobs = [Job("long", str(long_call), "a", 300.0), Job("short", str(short), "b", 11.0)]
    settings = TranscribeSettings(engine="faster-whisper", model="tiny.en", workers=workers, max_chunk_minutes=1, diarize=False,
                                  vad=False).resolved()
    summary = run(jobs, tmp_path, settings, progress=False)
    assert summary.counts["ok"] == 2
    assert sum(RecordingBar.steps) == pytest.approx(311.0)
    pieces = [s for s in RecordingBar.steps if 45 <= s <= 60]  # one-minute pieces, cut at pauses
    assert len(pieces) >= 4, RecordingBar.steps
