"""`transcribe.vocabulary`: the company's own words reach the decoder and come out right."""

import pytest

from callscribe.audio import load_audio
from callscribe.engines import load_engine
from callscribe.evaluate import normalize
from callscribe.settings import TranscribeSettings
from callscribe.transcribe import transcribe_audio
from callscribe.vocabulary import hint, terms
from tests.helpers import find_sample

PRINTERS = "1758821279"  # LJ001-0031: "...Sweynheim and Pannartz began printing in the monastery of Subiaco near Rome"


def test_vocabulary_is_a_list_or_a_file(tmp_path):
    assert terms(None) == [] and terms([]) == [] and hint([]) is None
    assert terms([" Alliance Insurance ", ""]) == ["Alliance Insurance"]
    path = tmp_path / "terms.txt"
    path.write_text("# our products\nAlliance Insurance\n\nGold Shield  # the plan\n")
    assert terms(str(path)) == ["Alliance Insurance", "Gold Shield"]
    assert hint(str(path)) == "Alliance Insurance, Gold Shield."
    with pytest.raises(ValueError, match="not a file"):
        terms(str(tmp_path / "missing.txt"))
    # A file's terms enter the settings (and so the hash): editing the file re-transcribes.
    settings = TranscribeSettings(vocabulary=str(path)).resolved()
    assert settings.vocabulary == ["Alliance Insurance", "Gold Shield"]
    assert settings.hash() != TranscribeSettings().resolved().hash()


def test_no_vocabulary_keeps_the_settings_hash():
    # Transcripts made before the field existed stay valid: an empty list is left out of the hash.
    assert TranscribeSettings(vocabulary=[]).resolved().hash() == TranscribeSettings().resolved().hash()


@pytest.mark.slow
def test_rare_names_come_out_right_with_the_vocabulary(sample_audio):
    audio = load_audio(find_sample(sample_audio, PRINTERS))
    names = ["Sweynheim", "Pannartz", "Subiaco"]
    plain = TranscribeSettings(workers=1, diarize=False, engine="faster-whisper").resolved()
    biased = TranscribeSettings(workers=1, diarize=False, engine="faster-whisper", vocabulary=names).resolved()
    engine = load_engine(plain)
    without = normalize(transcribe_audio(engine, audio, plain)[0].text)
    with_vocab = normalize(transcribe_audio(engine, audio, biased)[0].text)
    # Measured: "Swainheim and Pannarch ... Sufiakal" without, all three names with.
    assert sum(n.lower() in without.split() for n in names) <= 1
    assert sum(n.lower() in with_vocab.split() for n in names) >= 2
    assert "rome" in with_vocab.split() and "monastery" in with_vocab.split()
