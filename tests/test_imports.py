"""The package's import graph: no circle, type-checking imports and imports inside functions included."""

import ast

from tests.helpers import REPO


def modules() -> dict[str, object]:
    found = {}
    for path in (REPO / "callscribe").rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def graph() -> dict[str, set[str]]:
    """module -> the callscribe modules it imports. A package loading its own modules (engines/__init__
    loading whisper.py in `load_engine`) is containment, not a climb back, and is left out."""
    mods = modules()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges = {}
    for name, path in mods.items():
        out = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module for a in node.names]
            else:
                continue
            out |= {t for t in map(owner, names) if t and t != name and not t.startswith(name + ".")}
        edges[name] = out
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node, path):
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := walk(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    return next((c for m in sorted(edges) if m not in state and (c := walk(m, [m]))), None)


def test_the_package_has_no_import_circle():
    assert cycle(graph()) is None, " -> ".join(cycle(graph()))


def test_the_circle_finder_sees_a_circle_through_a_type_checking_import():
    edges = graph()
    assert "callscribe.settings" in edges["callscribe.engines"]  # under TYPE_CHECKING
    assert cycle({**edges, "callscribe.settings": edges["callscribe.settings"] | {"callscribe.engines"}}) is not None


def test_engine_specs_and_vocabulary_are_leaves():
    edges = graph()
    assert edges["callscribe.engines.specs"] == set() and edges["callscribe.vocabulary"] == set()
