"""Every README shell block marked `<!-- run -->` runs as written, in order, on a fresh copy of the project."""

import re
import subprocess

import pytest

from tests.helpers import REPO, copy_project, dvc_env

MARK = "<!-- run -->"
GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def marked_blocks(text: str) -> list[str]:
    """The fenced blocks right after a `<!-- run -->` line."""
    return [m.group(1) for m in re.finditer(re.escape(MARK) + r"\n```(?:sh|bash|console)\n(.*?)\n```", text, re.S)]


def test_marked_blocks_are_found_and_every_mark_has_a_block():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = marked_blocks(text)
    assert len(blocks) == text.count(MARK) >= 3, "a `<!-- run -->` line must sit right above a ```sh fence"
    assert any("dvc exp run" in b for b in blocks) and any("dvc checkout" in b for b in blocks)


@pytest.mark.slow  # `dvc repro` of the samples, then an experiment with tiny.en: minutes
def test_readme_blocks_run_on_a_fresh_copy(tmp_path):
    project = copy_project(tmp_path / "project")
    env = {**dvc_env(project), **GIT, "HF_HUB_OFFLINE": "1", "COLUMNS": "80"}

    def sh(cmd: str) -> str:
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=project, env=env, capture_output=True, text=True)
        assert out.returncode == 0, f"README block failed:\n{cmd}\n---\n{out.stdout}{out.stderr}"
        return out.stdout + out.stderr

    committed = None
    for block in marked_blocks((REPO / "README.md").read_text(encoding="utf-8")):
        out = sh(block)
        if "exp show" in block:  # the one param that differs is shown, whole, at 80 columns
            rules = [i for i, line in enumerate(out.splitlines()) if line.strip().startswith("───")]
            table = out.splitlines()[rules[0]:rules[-1] + 1]
            assert any("transcribe.model" in line for line in table) and any("tiny.en" in line for line in table), out
            assert max(map(len, table)) <= 80 and "…" not in "\n".join(table), out
        if "callscribe compare" in block:  # a row for the param that differs, with both values
            row = next(line for line in out.splitlines() if line.startswith("transcribe.model"))
            assert "tiny.en" in row and "auto" in row, out
        if block.startswith("dvc repro"):
            committed = (project / "metrics.json").read_text()
        if "dvc checkout" in block:  # back at the last commit: params, lock, metrics and outputs
            assert sh("git status --porcelain") == ""
            assert "model: auto" in (project / "params.yaml").read_text()
            assert (project / "metrics.json").read_text() == committed
        if "exp apply" in block:  # kept and committed
            assert sh("git status --porcelain") == ""
            assert "model: tiny.en" in (project / "params.yaml").read_text()
            assert (project / "metrics.json").read_text() != committed
    assert committed is not None and (project / "data/output/calls.db").exists()


DOCS = [REPO / "README.md", REPO / "ARCHITECTURE.md", *sorted((REPO / "docs").rglob("*.md"))]
DIARY = re.compile(r"\bissue[ -]\d+|\b(first|second|third|fourth) pass\b|tried and not|temporary hook|another engineer", re.I)


def test_the_readme_stays_short_and_the_docs_keep_no_diary():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) < 220
    diary = [(p.relative_to(REPO), m.group(0)) for p in DOCS for m in DIARY.finditer(p.read_text(encoding="utf-8"))]
    assert not diary, f"the story of how a figure was reached belongs in git history: {diary}"


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for doc in DOCS:
        text = re.sub(r"<!--.*?-->", "", doc.read_text(encoding="utf-8"), flags=re.S)  # placeholders for the lead
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in target and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(REPO)}: {target}")
    assert not broken, broken
