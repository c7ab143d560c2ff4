"""Every message the code can show a user has an entry in docs/guide/troubleshooting.md.

Messages are read from the source: what every `raise X(...)`, `return SomethingError(...)` and
`sys.exit(...)` carry, every call's `reason` and warning, every member extract skips, and every line printed to stderr. Each is
matched by its keys: every literal part of 10 characters or more, cut to its first 40 (backticks,
case and spacing ignored, so the page may quote it as code, with PATH or … where the code fills
something in). A message that is only a prefix around another one (`f"extract: {e}"`) has no key of
its own. When this test fails it lists each message without an entry, where it is raised, and the
keys to quote on the page.
"""

import ast
import re
from dataclasses import dataclass

from tests.helpers import REPO

PAGE = REPO / "docs" / "guide" / "troubleshooting.md"
SOURCES = sorted((REPO / "callscribe").rglob("*.py")) + sorted((REPO / "stages").glob("*.py"))
KEY_CHARS = 40
MIN_CHARS = 10  # shorter literal parts are punctuation around a message from elsewhere
PREFIX = re.compile(r"^\s*((callscribe|callscribe \w+|extract|filter|transcribe|merge|index|error):\s*)+")  # "callscribe: error: "


@dataclass
class Message:
    where: str
    keys: list[str]
    text: str


def normal(s: str) -> str:
    return " ".join(s.replace("`", "").split()).lower()


def literal_parts(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    if isinstance(node, ast.BinOp):  # "..." + "..."
        return literal_parts(node.left) + literal_parts(node.right)
    if isinstance(node, ast.IfExp):
        return literal_parts(node.body) + literal_parts(node.orelse)
    return []


def shown(node) -> str:
    """The message as a user sees it, placeholders as `…`."""
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return " / ".join(literal_parts(node)) or "…"


def name_of(func) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def messages_in(tree: ast.AST) -> list[tuple[int, ast.AST]]:
    """(line, message node) for every user-facing message in a module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:  # any exception raised with a message
            found.append((node.lineno, node.exc.args[0]))
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Call) and name_of(node.value.func).endswith("Error"):
            found += [(node.lineno, node.value.args[0])] if node.value.args else []
        elif isinstance(node, ast.Call) and name_of(node.func) == "exit" and node.args and isinstance(node.func, ast.Attribute):
            found.append((node.lineno, node.args[0]))
        elif isinstance(node, ast.Call) and name_of(node.func) == "print" and node.args:
            if any(k.arg == "file" and "stderr" in ast.unparse(k.value) for k in node.keywords):
                found.append((node.lineno, node.args[0]))
        if isinstance(node, ast.Call):
            found += [(node.lineno, k.value) for k in node.keywords if k.arg == "reason"]
            if node.args and name_of(node.func) == "unreadable":  # a profile row's error
                found.append((node.lineno, node.args[0]))
            if node.args and name_of(node.func) == "append" and any(w in ast.unparse(node.func) for w in ("warning", "skipped")):
                arg = node.args[0]  # a call's warning, or (member, why) for a member extract skips
                found += [(node.lineno, e) for e in (arg.elts if isinstance(arg, ast.Tuple) else [arg])]
        elif isinstance(node, ast.Assign) and any(name_of(t) in ("reason", "why") for t in node.targets):
            found.append((node.lineno, node.value))
    for fn in ast.walk(tree):  # drop_reason(), repetition_warning(): every string they return
        if isinstance(fn, ast.FunctionDef) and fn.name.endswith(("reason", "warning")):
            found += [(r.lineno, r.value) for r in ast.walk(fn) if isinstance(r, ast.Return) and literal_parts(r.value)]
    return found


def code_messages() -> list[Message]:
    out = []
    for path in SOURCES:
        for line, node in messages_in(ast.parse(path.read_text(encoding="utf-8"))):
            parts = [PREFIX.sub("", p).strip(" ()[];:.,\n") for p in literal_parts(node)]
            keys = [normal(p)[:KEY_CHARS] for p in parts if len(p) >= MIN_CHARS]
            if keys:
                out.append(Message(f"{path.relative_to(REPO)}:{line}", keys, shown(node)))
    return out


def test_the_scan_finds_the_messages_it_is_for():
    keys = {k for m in code_messages() for k in m.keys}
    # one of each kind: a raised error, a SystemExit, a stage's sys.exit, a record's reason, a stderr line
    for sample in ("unknown output format", "no such file or folder", "interrupted; finished calls are saved",
                   "the worker process died while transcribi", "no match for"):
        assert any(k.startswith(normal(sample)) for k in keys), sample


def test_every_message_has_an_entry():
    page = normal(PAGE.read_text(encoding="utf-8"))
    missing = [(m, [k for k in m.keys if k not in page]) for m in code_messages()]
    missing = [(m, keys) for m, keys in missing if keys]
    assert not missing, f"{len(missing)} message(s) without an entry in {PAGE.relative_to(REPO)}:\n" + "\n".join(
        f"  {m.where}: {m.text}\n    not on the page: {keys}" for m, keys in missing)
