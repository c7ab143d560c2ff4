"""bench/archive_set.py: the archive-shaped set's manifest rows, found from any checkout."""

import importlib.util
import json

import pytest

from tests.helpers import REPO, SHARED

spec = importlib.util.spec_from_file_location("archive_set", REPO / "bench" / "archive_set.py")
archive_set = importlib.util.module_from_spec(spec)
spec.loader.exec_module(archive_set)

CLIP = "gsm8k/timit_nltk_sample/audio/dr1-mcpm0_si564.wav"


@pytest.mark.skipif(not (SHARED / CLIP).is_file(), reason=f"needs ../shared/data/{CLIP}")
def test_rows_written_with_a_relative_shared_folder_are_found_from_a_worktree(tmp_path):
    # A set built with CALLSCRIBE_SHARED=../shared/data holds "../shared/data/gsm8k/..." paths; read
    # from elsewhere (a worktree, another folder) they must still name the shared file, and the set's
    # own files stay its own.
    (tmp_path / "call.wav").write_bytes(b"")
    rows = [{"audio": f"../shared/data/{CLIP}", "text": "a", "kind": "utterance"},
            {"audio": "call.wav", "text": "b", "kind": "two-party"}]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    found = archive_set.build(SHARED, "tuning", tmp_path)
    assert [p for p, _, _ in found] == [str(SHARED / CLIP), str(tmp_path / "call.wav")]
