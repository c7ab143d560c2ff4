"""`callscribe compare`: the metrics and the params that differ, side by side, for the workspace, HEAD
and HEAD's experiments (or the ones named), one column each, within the terminal's width (80 by default).

`dvc exp show` puts every param in a column of its own and drops the ones that do not fit; here the
runs are the columns and only the params that differ between them are rows, so what changed is shown.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from callscribe.params import SECTIONS

GAP = 2  # spaces between columns
LABEL = 26  # at most: a longer param name is cut


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="metrics and changed params side by side: workspace, HEAD and its experiments")
    p.add_argument("runs", nargs="*", metavar="RUN", help="experiment names or revisions (default: workspace, HEAD, HEAD's experiments)")
    p.add_argument("--repo", default=".", help="the DVC project (default: here)")
    p.add_argument("--metrics", default="metrics.json", help="the metrics file whose figures are shown (default metrics.json)")
    p.set_defaults(run=run)


def run(args) -> int:
    import dvc.api  # slow to import: only for this command

    try:
        rows = dvc.api.exp_show(repo=args.repo)  # the workspace, HEAD and HEAD's experiments
        known = {name(r) for r in rows} | {r["rev"] for r in rows} | {"HEAD"}
        others = [r for r in args.runs if r not in known]
        if others:  # other commits or branches
            rows += [r for r in dvc.api.exp_show(repo=args.repo, revs=others) if r["rev"] not in known]
    except Exception as e:  # DVC's own errors: not a repository, an unknown revision
        raise SystemExit(f"callscribe compare: {e}") from None
    metrics = list(json.loads((Path(args.repo) / args.metrics).read_text(encoding="utf-8")))
    width = int(os.environ.get("COLUMNS") or shutil.get_terminal_size((80, 24)).columns)
    print(table(choose(rows, args.runs), metrics, width))
    return 0


def name(row: dict) -> str:
    return row.get("Experiment") or (row["rev"] if row["rev"] == "workspace" or row.get("typ") == "baseline" else row["rev"][:7])


def choose(rows: list[dict], runs: list[str]) -> list[dict]:
    """The rows asked for, in that order; without names, every row `dvc exp show` lists."""
    if not runs:
        return rows
    by_name = {name(r): r for r in rows} | {r["rev"]: r for r in rows}
    by_name |= {"HEAD": r for r in rows if r.get("typ") == "baseline" and r["rev"] != "workspace"}
    missing = [r for r in runs if r not in by_name and not any(x["rev"].startswith(r) for x in rows)]
    if missing:
        raise SystemExit(f"callscribe compare: no experiment or revision {', '.join(missing)}: `dvc exp list` names them")
    return [by_name.get(r) or next(x for x in rows if x["rev"].startswith(r)) for r in runs]


def shown(value) -> str:
    """A value as params.yaml or metrics.json write it (DVC's table gives 2.0 for 2 and 'True' for true)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value in ("True", "False"):
        return value.lower()
    return "-" if value is None else str(value)


def table(rows: list[dict], metrics: list[str], width: int = 80) -> str:
    """Metrics, then the params whose values differ, one column per run, cut to `width`."""
    params = [k for k in rows[0] if k.split(".")[0] in SECTIONS and "." in k] if rows else []

    def differ(runs):
        return [k for k in params if len({shown(r.get(k)) for r in runs}) > 1]

    label_w = min(LABEL, max(map(len, metrics + differ(rows) + ["run"])))
    fit = max(1, (width - label_w) // (GAP + 10))  # columns of at least 10 characters
    rows, left = rows[:fit], rows[fit:]
    changed = differ(rows)
    labels = metrics + changed
    col_w = max(1, (width - label_w) // max(len(rows), 1) - GAP)

    def cell(text: str, w: int) -> str:
        return text if len(text) <= w else text[: w - 1] + "…"

    lines = [cell("run", label_w).ljust(label_w) + "".join(" " * GAP + cell(name(r), col_w).rjust(col_w) for r in rows)]
    for i, key in enumerate(labels):
        if i == len(metrics):
            lines.append("changed params:")
        lines.append(cell(key, label_w).ljust(label_w) + "".join(" " * GAP + cell(shown(r.get(key)), col_w).rjust(col_w) for r in rows))
    if not changed:
        lines.append("no param differs")
    if left:
        lines.append(cell(f"{len(left)} more: callscribe compare {' '.join(name(r) for r in left[:3])} ...", width))
    return "\n".join(line.rstrip() for line in lines)
