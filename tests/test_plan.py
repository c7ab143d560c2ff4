"""`callscribe plan`: the archive's sizes as extract really unpacks them, and a projection from a real measurement."""

import json
import re
import subprocess
import sys

import pytest
import soundfile as sf
import yaml

from callscribe.archive import extract
from callscribe.plan import measure_archives
from tests.helpers import ARCHIVES, REPO


def test_sizes_are_what_extract_unpacks_and_hours_come_close(tmp_path):
    a = measure_archives([str(p) for p in ARCHIVES])
    extract(ARCHIVES, tmp_path / "audio")
    wavs = [p for p in (tmp_path / "audio").rglob("*") if p.suffix.lower() == ".wav"]
    assert a.zip_bytes == sum(p.stat().st_size for p in ARCHIVES)
    assert a.audio_bytes == sum(p.stat().st_size for p in wavs) and a.files == len(wavs)
    true_seconds = sum(sf.info(str(p)).duration for p in wavs if p.stat().st_size > 100)
    assert abs(a.seconds - true_seconds) < 0.1 * true_seconds, (a.seconds, true_seconds)  # an estimate from a few headers


def test_a_profile_gives_the_exact_hours_and_a_folder_counts_as_an_archive(tmp_path):
    extract(ARCHIVES[:1], tmp_path / "audio")
    profile = tmp_path / "profile.jsonl"
    rows = [("audio", 60.0), ("audio", 120.5), ("audio", 0.0), ("an archive no longer listed", 999.0)]
    profile.write_text("".join(json.dumps({"archive": name, "duration": d}) + "\n" for name, d in rows))
    a = measure_archives([str(tmp_path / "audio")], profile)
    assert a.seconds == 180.5 and a.zip_bytes == 0 and a.audio_bytes > 0
    with pytest.raises(SystemExit, match="no such zip or folder"):
        measure_archives([str(tmp_path / "missing.zip")])


@pytest.mark.slow  # transcribes half a minute of the sample calls
def test_plan_projects_the_archive_from_this_machines_speed(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["extract"]["archives"] = [str(p) for p in ARCHIVES]
    params["transcribe"]["engine"] = "faster-whisper"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "data").mkdir()
    hours = 1600
    (tmp_path / "data/profile.jsonl").write_text(json.dumps({"archive": ARCHIVES[0].stem, "duration": hours * 3600.0}) + "\n")
    out = subprocess.run([sys.executable, "-m", "callscribe.cli", "plan", "--params", str(tmp_path / "params.yaml"),
                          "--seconds", "30"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "1,600.0 h of audio" in text and "DVC cache of data/audio" in text and "data/transcripts" in text
    x, workers = re.search(r"([\d.]+)x real time per worker, (\d+) worker", text).groups()
    projected = float(re.search(r"about ([\d,.]+) h for the archive", text).group(1).replace(",", ""))
    assert float(x) > 0.5
    assert projected == pytest.approx(hours / (float(x) * int(workers)), rel=0.06)  # x is printed rounded
