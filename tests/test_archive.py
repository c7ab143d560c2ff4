import zipfile

import pytest

from callscribe.archive import ArchiveError, Limits, extract
from tests.conftest import ARCHIVES


def test_samples_unpack_wavs_only(tmp_path):
    reports = extract(ARCHIVES, tmp_path / "audio")
    wavs = [p for p in (tmp_path / "audio").rglob("*") if p.is_file()]
    assert len(wavs) == sum(len(r.extracted) for r in reports) == 29
    assert all(p.suffix.lower() == ".wav" for p in wavs)
    skipped = dict(s for r in reports for s in r.skipped)
    assert any("__MACOSX" in name for name in skipped) and any(name.endswith(".txt") for name in skipped)
    # A second run rewrites nothing.
    again = extract(ARCHIVES, tmp_path / "audio")
    assert sum(len(r.extracted) for r in again) == 0 and sum(len(r.unchanged) for r in again) == 29


def test_hostile_members_are_refused(tmp_path):
    zpath = tmp_path / "hostile.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("../escape.wav", b"RIFF")
        z.writestr("/abs.wav", b"RIFF")
        z.writestr("ok/../../escape2.wav", b"RIFF")
        link = zipfile.ZipInfo("link.wav")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, "/etc/passwd")
        z.writestr("good/call.wav", b"RIFF0000WAVE")
    out = tmp_path / "data" / "audio"
    (report,) = extract([zpath], out)
    assert report.extracted == ["good/call.wav"]
    assert {name for name, _ in report.skipped} == {"../escape.wav", "/abs.wav", "ok/../../escape2.wav", "link.wav"}
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {"hostile.zip", "data/audio/hostile/good/call.wav"}


def test_zip_bomb_is_refused_before_writing(tmp_path):
    zpath = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("call.wav", b"\0" * 50_000_000)
    assert zpath.stat().st_size < 100_000
    (report,) = extract([zpath], tmp_path / "audio", Limits(max_ratio=200))
    assert report.extracted == [] and "zip bomb" in report.skipped[0][1]
    with pytest.raises(ArchiveError, match="zip bomb"):
        extract([zpath], tmp_path / "audio", Limits(max_total_bytes=10_000_000))
    assert not any(p.is_file() for p in (tmp_path / "audio").rglob("*"))
