"""What the report shows, from the index with analytics.db attached as `a`: the plot data, the headline
figures (metrics/analytics.json) and the same plots as PNGs, drawn offline."""

from __future__ import annotations

import json
import sqlite3
import statistics
from pathlib import Path

from callscribe.plots import write_json

NO_REASON = "(no reason)"


def attach(index_db: Path, analytics_db: Path, readonly: bool = True) -> sqlite3.Connection:
    """The index (read-only) with analytics.db attached as `a`."""
    con = sqlite3.connect(f"{Path(index_db).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
    con.execute("ATTACH DATABASE ? AS a", (f"{Path(analytics_db).resolve().as_uri()}?mode=ro",))
    return con


def calls_per_day(con) -> list[dict]:
    """Every call in the index (transcribed or not), per day and queue."""
    return [{"date": d, "queue": q or "-", "calls": n} for d, q, n in con.execute(
        "SELECT date, queue, count(*) FROM calls WHERE date IS NOT NULL GROUP BY date, queue ORDER BY date, queue")]


REASON_SQL = "coalesce(t.name, '" + NO_REASON + "')"
JOIN_SQL = "FROM a.measures m LEFT JOIN a.reasons r ON r.call = m.call LEFT JOIN a.topics t ON t.topic = r.topic"


def reasons_per_month(con) -> list[dict]:
    return [{"month": mo, "reason": r, "calls": n} for mo, r, n in con.execute(
        f"""SELECT substr(m.date, 1, 7) AS mo, {REASON_SQL} AS r, count(*) {JOIN_SQL}
            WHERE m.date IS NOT NULL GROUP BY mo, r ORDER BY mo, r""")]


def hold_per_queue(con) -> list[dict]:
    return [{"queue": q or "-", "calls": n, "calls_with_hold": h, "mean_hold_s": round(s or 0, 1)} for q, n, h, s in con.execute(
        "SELECT queue, count(*), sum(holds > 0), avg(hold_s) FROM a.measures GROUP BY queue ORDER BY queue")]


def length_per_reason(con) -> list[dict]:
    lengths: dict[str, list[float]] = {}
    for r, d in con.execute(f"SELECT {REASON_SQL}, m.duration_s {JOIN_SQL}"):
        lengths.setdefault(r, []).append(d or 0.0)
    return [{"reason": r, "calls": len(v), "median_minutes": round(statistics.median(v) / 60, 2)}
            for r, v in sorted(lengths.items(), key=lambda kv: -len(kv[1]))]


def tracker_calls(con, names: list[str]) -> list[dict]:
    total = con.execute("SELECT count(*) FROM a.measures").fetchone()[0] or 1
    found = dict(con.execute("SELECT tracker, count(DISTINCT call) FROM a.hits GROUP BY tracker"))
    return [{"tracker": t, "calls": found.get(t, 0), "share": round(found.get(t, 0) / total, 4)} for t in names]


def headline(con, trackers: list[str]) -> dict:
    """metrics/analytics.json: a few numbers over the archive."""
    n, length, hold_share, hold, overtalk, agent_share, first = con.execute(
        """SELECT count(*), avg(duration_s), avg(holds > 0), avg(hold_s), avg(overtalk_s / nullif(speech_s, 0)),
                  avg(agent_talk_s / nullif(agent_talk_s + caller_talk_s, 0)), avg(first_agent_word_s) FROM a.measures""").fetchone()
    with_reason = con.execute("SELECT count(*) FROM a.reasons WHERE topic IS NOT NULL").fetchone()[0]
    out = {"calls": n, "mean_call_minutes": _r(length, 60), "calls_with_hold": _r(hold_share), "mean_hold_s": _r(hold),
           "overtalk_share": _r(overtalk), "agent_talk_share": _r(agent_share), "mean_first_agent_word_s": _r(first),
           "reason_coverage": round(with_reason / n, 3) if n else None,
           "topics": con.execute("SELECT count(DISTINCT name) FROM a.topics").fetchone()[0]}
    out["trackers"] = {t["tracker"]: t["share"] for t in tracker_calls(con, trackers)}
    return out


def summary(con, trackers: list[str]) -> dict:
    """Everything the report page shows, computed once by the stage and kept in analytics.db (meta `report`):
    the page then renders it without a query over the archive."""
    topics = [{"topic": t, "name": n, "phrases": json.loads(p), "calls": c}
              for t, n, p, c in con.execute("SELECT topic, name, phrases, calls FROM a.topics ORDER BY topic")]
    return {"headline": headline(con, trackers), **{stem: fn(con) for stem, (fn, *_) in PLOTS.items()},
            "trackers": tracker_calls(con, trackers), "topics": topics}


def _r(value, divide: float = 1.0):
    return None if value is None else round(value / divide, 3)


PLOTS = {  # file stem: (data function, x, y, series, title)
    "calls_per_day": (calls_per_day, "date", "calls", "queue", "calls per day, by queue"),
    "reasons_per_month": (reasons_per_month, "month", "calls", "reason", "call reasons per month"),
    "hold_per_queue": (hold_per_queue, "queue", "mean_hold_s", None, "mean hold per call, by queue"),
    "length_per_reason": (length_per_reason, "reason", "median_minutes", None, "median call length, by reason"),
}


def write_plots(data: dict, folder: Path) -> None:
    """plots/analytics/<name>.json for `dvc plots show` and <name>.png beside it, from summary()."""
    for stem, (_, x, y, series, title) in PLOTS.items():
        rows = data[stem]
        write_json(folder / f"{stem}.json", rows)
        png(folder / f"{stem}.png", rows, x, y, series, title)


def png(path: Path, rows: list[dict], x: str, y: str, series: str | None, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: stages run headless
    import matplotlib.pyplot as plt

    xs = list(dict.fromkeys(r[x] for r in rows))
    groups = sorted({r[series] for r in rows}, key=str) if series else [None]
    fig, ax = plt.subplots(figsize=(10 if series else 8, 3.8), dpi=100, layout="constrained")
    bottom = [0.0] * len(xs)
    for g in groups:
        values = {r[x]: r[y] for r in rows if series is None or r[series] == g}
        heights = [values.get(v, 0) for v in xs]
        ax.bar(range(len(xs)), heights, bottom=bottom, label=g)
        bottom = [b + h for b, h in zip(bottom, heights)]
    step = max(1, len(xs) // 20)  # at most ~20 labels on the axis
    ax.set_xticks(range(0, len(xs), step), [str(v)[:24] for v in xs[::step]], rotation=30, ha="right", fontsize=8)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    ax.set_title(title)
    if series and len(groups) > 1:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the bars, never over them
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})  # no version stamp: same data, same bytes
    plt.close(fig)
