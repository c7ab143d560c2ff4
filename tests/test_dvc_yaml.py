"""dvc.yaml and params.yaml as DVC reads and rewrites them: deps that match the imports, ignores, -S edits."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import REPO


def module_file(name: str) -> Path | None:
    """callscribe.x.y -> its file in the repo (a package's __init__.py), or None outside callscribe."""
    if name != "callscribe" and not name.startswith("callscribe."):
        return None
    base = REPO.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_files(script: Path) -> set[Path]:
    """Every callscribe module file that running `script` can import, followed transitively
    (imports inside functions too); importing callscribe.a.b loads callscribe/__init__ and a/__init__."""
    seen, todo = set(), [script]
    while todo:
        tree = ast.parse(todo.pop().read_text(encoding="utf-8"))
        names = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # the parent packages are imported first
                path = module_file(".".join(parts[:i]))
                if path and path not in seen:
                    seen.add(path)
                    todo.append(path)
    return seen


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


def test_every_stage_depends_on_the_package_modules_it_imports():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        stage = stage.get("do", stage)
        script = REPO / stage["cmd"].split()[1]
        deps = [d for d in stage["deps"] if isinstance(d, str)]
        assert covered(script, deps), f"{name}: {script.name} is not among its own deps"
        lost = sorted(p.relative_to(REPO).as_posix() for p in imported_files(script) if not covered(p, deps))
        if lost:
            missing[name] = lost
    assert not missing, f"stages import modules that are not in their deps (add them in dvc.yaml): {missing}"


def test_the_import_follower_sees_lazy_and_nested_imports():
    files = {p.relative_to(REPO).as_posix() for p in imported_files(REPO / "stages" / "transcribe.py")}
    # engines/ is imported inside settings.resolved(); whisper.py inside load_engine()
    assert {"callscribe/engines/__init__.py", "callscribe/engines/whisper.py", "callscribe/journal.py"} <= files


def test_python_bytecode_is_not_a_dvc_dependency():
    """Python writes __pycache__ beside the modules; DVC must not see it, or every stage looks changed."""
    for path in ("callscribe/engines/__pycache__/whisper.cpython-311.pyc", "stages/__pycache__/x.pyc", "callscribe/x.pyc"):
        out = subprocess.run([Path(sys.executable).parent / "dvc", "check-ignore", path], cwd=REPO, capture_output=True, text=True)
        assert out.returncode == 0 and path in out.stdout, f"{path} is not ignored by .dvcignore: {out.stdout}{out.stderr}"


def test_exp_run_set_rewrites_only_the_values_it_sets(tmp_path):
    """`dvc exp run -S` writes params.yaml back through ruamel: comments, quotes and lists must survive."""
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` calls

    params = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", params)
    apply_overrides(params, ["transcribe.beam_size=3", "filter.max_seconds=600"])
    before, after = (REPO / "params.yaml").read_text().splitlines(), params.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and [b.split("#")[0].strip() for _, b in changed] == ["max_seconds: 600", "beam_size: 3"]
    assert all(a.split("#")[1] == b.split("#")[1] for a, b in changed)  # each line keeps its comment
