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


# ---- tiers -------------------------------------------------------------------------------------------
# unit: no model, no process started (under a minute: `pytest -m unit`); model: a model is loaded
# (tiny.en, or the sample pipeline's decoding) in this process or a worker; system: the CLI, dvc, Ray or a
# browser as a user runs them. `slow` stays as it was (minutes-long tests), for CI's fast pass.
SYSTEM_WORDS = ("subprocess", "Popen", "dvc(", "cli(", "RayCluster", "playwright", "chromium", "uvicorn")
MODEL_WORDS = ("load_engine", "run(", "transcribe_files", "transcribe_file(", "transcribe_audio", "diarizer(", "profile_tree",
               "speech_regions", "transcribe_packed", "qwen", "mlx")
FAKE_WORDS = ("install(monkeypatch",)  # the fake pool (tests/fakes.py): the runner without a model


def _sources(item) -> str:
    """The test's source, its fixtures', and that of the module's functions it calls by name (one level)."""
    import inspect

    here = str(Path(__file__).parent)
    funcs = [item.function] + [fd.func for defs in item._fixtureinfo.name2fixturedefs.values() for fd in defs
                               if (inspect.getsourcefile(fd.func) or "").startswith(here) and fd.argname != "unit_tier_starts_nothing"]
    text = "\n".join(inspect.getsource(f) for f in funcs)
    helpers = [f for name, f in vars(item.module).items() if inspect.isfunction(f) and f.__module__ == item.module.__name__
               and not name.startswith("test_") and f"{name}(" in text]
    return text + "\n".join(inspect.getsource(f) for f in helpers)


def tier(item) -> str:
    text = _sources(item)
    if any(w in text for w in SYSTEM_WORDS):
        return "system"
    if any(w in text for w in FAKE_WORDS) or not any(w in text for w in MODEL_WORDS):
        return "unit"
    return "model"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(item.get_closest_marker(name) for name in ("unit", "model", "system")):
            item.add_marker(getattr(pytest.mark, tier(item)))


@pytest.fixture(autouse=True)
def unit_tier_starts_nothing(request, monkeypatch):
    """A test of the unit tier that starts a process or loads a model fails, naming that: it belongs in another tier."""
    if request.node.get_closest_marker("unit") is None:
        return
    import multiprocessing.util
    import subprocess

    import callscribe.engines

    def refuse(what):
        def fail(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} is in the unit tier but {what}: mark it model or system")
        return fail

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a process"))
    monkeypatch.setattr(multiprocessing.util, "spawnv_passfds", refuse("starts a worker process"))
    monkeypatch.setattr(callscribe.engines, "load_engine", refuse("loads a model"))
