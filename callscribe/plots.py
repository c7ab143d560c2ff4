"""Plot data for `dvc plots show` / `dvc plots diff`, and the same plots as PNG images.

DVC's interactive charts load vega from a CDN, so they stay blank offline; the PNGs, drawn here
with matplotlib, show in `dvc plots show` with no network.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from callscribe.fileio import atomic_write

EDGES = [0, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 90, float("inf")]  # minutes
TIMES = Path("plots/time")  # one small file per stage: how long its last run took


def histogram(durations: list[float]) -> list[dict]:
    """Calls per length bin (minutes), in numeric order of the bins."""
    labels = [f"{a:g}-{b:g}" if b != float("inf") else f">{a:g}" for a, b in zip(EDGES, EDGES[1:])]
    counts = Counter(next(i for i, b in enumerate(EDGES[1:]) if d / 60 < b) for d in durations)
    return [{"minutes": lab, "calls": counts.get(i, 0)} for i, lab in enumerate(labels)]


def write_json(path: str | Path, rows) -> None:
    atomic_write(path, json.dumps(rows, indent=1) + "\n")


def record_time(stage: str, started: float) -> None:
    """Called at the end of a stage with its time.perf_counter() start."""
    write_json(TIMES / f"{stage}.json", {"stage": stage, "seconds": round(time.perf_counter() - started, 2)})


def stage_times(order: list[str]) -> list[dict]:
    """The recorded stage times, in pipeline order (`order` holds the stage names, shards expanded)."""
    found = {}
    for path in TIMES.glob("*.json"):
        row = json.loads(path.read_text(encoding="utf-8"))
        found[row["stage"]] = row
    return [found[s] for s in order if s in found]


def bar_png(path: str | Path, labels: list[str], values: list[float], xlabel: str, ylabel: str, title: str) -> None:
    """A bar chart in the order given, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: stages run headless
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100, layout="constrained")
    ax.bar(range(len(values)), values, color="#4c72b0")
    ax.set_xticks(range(len(labels)), labels, rotation=30 if max(map(len, labels), default=0) > 6 else 0, ha="right")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    for i, v in enumerate(values):
        ax.annotate(f"{v:g}", (i, v), ha="center", va="bottom", fontsize=8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})  # no version stamp: same data, same bytes
    plt.close(fig)
