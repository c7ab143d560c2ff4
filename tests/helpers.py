"""Helpers the tests import (fixtures stay in conftest.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SHARED = Path(os.environ.get("CALLSCRIBE_SHARED", REPO.parent / "shared" / "data"))
ARCHIVES = sorted(SAMPLES.glob("calls_*.zip"))


def find_sample(root: Path, name_part: str) -> Path:
    hits = [p for p in root.rglob("*") if p.is_file() and name_part in p.name]
    assert len(hits) == 1, f"{name_part}: {hits}"
    return hits[0]


def copy_project(dest: Path) -> Path:
    """A fresh copy of the project as git tracks it (what a new clone holds), as its own repo."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True)
    files = listed.stdout.split()
    for f in files:
        src = REPO / f
        if src.is_file() and not f.startswith(("data/", "metrics/", "plots/")) and f != "dvc.lock":
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    # The suite's expectations (WER bounds, word probabilities) are Whisper base's; on a Mac `auto`
    # would pick Qwen3-ASR and download it. test_engine_mlx.py sets its own engine.
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["transcribe"]["engine"] = "faster-whisper"
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True, env=env)
    return dest


def dvc_env(project: Path) -> dict:
    # Stage commands call `python`: make it this interpreter, importing the copy's own package.
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(project), "DVC_NO_ANALYTICS": "1"}


def dvc(project: Path, *args, check=True) -> str:
    out = subprocess.run(["dvc", *args], cwd=project, capture_output=True, text=True, env=dvc_env(project))
    assert not check or out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def ran(output: str) -> set[str]:
    """The stages a `dvc repro` ran, from its output."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def journal_ids(project: Path) -> list[str]:
    from callscribe.fileio import read_jsonl

    return [e["id"] for j in (project / "data" / "transcripts").glob("*/journal.jsonl") for e in read_jsonl(j)]
