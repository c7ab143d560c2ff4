import errno
import os

import pytest

from callscribe.journal import Journal, is_done


def test_cut_short_line_is_ignored_and_repaired(tmp_path):
    j = Journal(tmp_path / "journal.jsonl")
    j.append({"id": "a", "sha256": "x", "settings_hash": "h", "status": "ok"})
    with open(j.path, "a") as f:
        f.write('{"id": "b", "sha2')  # a kill in the middle of a write
    assert set(j.entries()) == {"a"}
    j.append({"id": "b", "sha256": "y", "settings_hash": "h", "status": "ok"})
    lines = j.path.read_text().splitlines()
    assert len(lines) == 2 and set(j.entries()) == {"a", "b"}


def test_latest_line_wins_and_settings_matter(tmp_path):
    j = Journal(tmp_path / "journal.jsonl")
    j.append({"id": "a", "sha256": "x", "settings_hash": "h1", "status": "ok"})
    j.append({"id": "a", "sha256": "x", "settings_hash": "h2", "status": "ok"})
    e = j.entries()["a"]
    assert is_done(e, "x", "h2") and not is_done(e, "x", "h1") and not is_done(e, "other", "h2")


def test_disk_full_mid_line_leaves_no_half_line(tmp_path, monkeypatch):
    j = Journal(tmp_path / "journal.jsonl")
    j.append({"id": "a", "sha256": "x", "settings_hash": "h", "status": "ok"})
    before = j.path.read_bytes()
    real_write = os.write

    def full_disk(fd, data):  # the kernel takes part of the line, then the disk is full
        if len(data) > 10:
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        j.append({"id": "b", "sha256": "y", "settings_hash": "h", "status": "ok"})
    assert j.path.read_bytes() == before
