import subprocess
import sys
import zipfile

import pytest

from callscribe.archive import ArchiveError, Limits, extract
from tests.helpers import ARCHIVES, REPO


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


def test_windows_style_escapes_are_refused(tmp_path):
    zpath = tmp_path / "win.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("..\\..\\escape.wav", b"RIFF")
        z.writestr("C:/Windows/escape.wav", b"RIFF")
        z.writestr("recordings/./call.wav", b"RIFF0000WAVE")
    (report,) = extract([zpath], tmp_path / "data" / "audio")
    assert {name for name, _ in report.skipped} == {"..\\..\\escape.wav", "C:/Windows/escape.wav"}
    assert all("unsafe path" in why for _, why in report.skipped)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {"win.zip", "data/audio/win/recordings/call.wav"}


def test_corrupt_zip_is_refused_with_a_clear_message(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("call.wav", b"RIFF" + bytes(range(256)) * 40)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[:-30])  # the central directory is cut off
    with pytest.raises(ArchiveError, match=r"cut\.zip: not a readable zip .*re-download or re-export it"):
        extract([cut], tmp_path / "audio")

    # A stage run on it stops with that message and a non-zero exit.
    (tmp_path / "params.yaml").write_text(f"extract: {{archives: ['{cut}'], max_member_gb: 2, max_total_gb: 200, max_ratio: 200}}\n")
    stage = subprocess.run([sys.executable, str(REPO / "stages/extract.py")], cwd=tmp_path, capture_output=True, text=True)
    assert stage.returncode == 1 and "extract: " in stage.stderr and "not a readable zip" in stage.stderr
    assert "Traceback" not in stage.stderr


def test_corrupt_and_lying_members_are_skipped_and_leave_nothing(tmp_path):
    zpath = tmp_path / "damaged.zip"
    payload = bytes(range(256)) * 400
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.wav", payload)
        z.writestr("bitrot.wav", payload[::-1])
        z.writestr("liar.wav", b"\0" * 5_000_000)
    data = bytearray(zpath.read_bytes())
    with zipfile.ZipFile(zpath) as z:
        rot, liar = z.getinfo("bitrot.wav"), z.getinfo("liar.wav")
    at = rot.header_offset + 30 + len("bitrot.wav") + 20
    data[at : at + 8] = b"\xff" * 8  # flipped bits inside the compressed data
    # liar.wav: declare 40 kB in both headers; its data still inflates to 5 MB.
    for off in (liar.header_offset + 22, data.rfind(b"liar.wav") - 46 + 24):
        data[off : off + 4] = (40_000).to_bytes(4, "little")
    zpath.write_bytes(bytes(data))

    (report,) = extract([zpath], tmp_path / "audio", Limits(max_ratio=1000))
    assert report.extracted == ["ok.wav"]
    skipped = dict(report.skipped)
    assert set(skipped) == {"bitrot.wav", "liar.wav"} and all(why.startswith("corrupt member") for why in skipped.values())
    files = {p.name: p.stat().st_size for p in (tmp_path / "audio").rglob("*") if p.is_file()}
    assert files == {"ok.wav": len(payload)}  # no partial or temporary file left


def test_an_archive_with_no_wav_is_warned_of(tmp_path, monkeypatch, capsys):
    """`0 new` alone would look like an archive already unpacked: a zip holding no WAV says so."""
    import runpy

    empty, notes = tmp_path / "empty.zip", tmp_path / "notes.zip"
    zipfile.ZipFile(empty, "w").close()
    with zipfile.ZipFile(notes, "w") as z:
        z.writestr("readme.txt", "no calls")
    (tmp_path / "params.yaml").write_text(f"extract: {{archives: ['{empty}', '{notes}'], max_member_gb: 2, max_total_gb: 200, "
                                          "max_ratio: 200}\n")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(REPO / "stages/extract.py"), run_name="__main__")
    err = capsys.readouterr().err
    assert f"{empty} holds no WAV file" in err and f"{notes} holds no WAV file" in err and "extract.archives" in err
