import json
from pathlib import Path

import pytest

from callscribe.archive import extract
from tests.helpers import ARCHIVES, SAMPLES


@pytest.fixture(scope="session")
def sample_audio(tmp_path_factory) -> Path:
    """The embedded sample archives, unpacked as the extract stage does."""
    root = tmp_path_factory.mktemp("audio")
    extract(ARCHIVES, root)
    return root


@pytest.fixture(scope="session")
def labels() -> dict[str, dict]:
    return {(d["archive"], d["file"]): d for d in map(json.loads, (SAMPLES / "labels.jsonl").read_text().splitlines())}
