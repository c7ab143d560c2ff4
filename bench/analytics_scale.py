"""The analytics stage and the report page at archive scale.

    python bench/analytics_scale.py                  # 37,000 synthetic calls (bench/synthetic_calls.py)
    python bench/analytics_scale.py --calls 2000 --json out.json

Writes synthetic merge outputs with word times (each segment's words spread over it, as Whisper's are),
builds the index, then times the analytics update from nothing (measures, trackers with params.yaml's
trackers, topics fitted), again with nothing changed, after a new month of 1,000 calls (those alone
measured), and after a tracker change (every call matched again, no refit). Then the report page and a
report calls page over HTTP (`callscribe serve`'s app under uvicorn on 127.0.0.1): first request and
p50/p95 of --repeat more. Prints the figures; --json writes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import synthetic_calls  # noqa: E402
from bench.index_scale import serve  # noqa: E402
from callscribe import params as project_params  # noqa: E402
from callscribe.analytics import report, store  # noqa: E402
from callscribe.analytics.params import parse  # noqa: E402
from callscribe.analytics.update import update  # noqa: E402
from callscribe.index import build  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def add_words(output: Path, rows: list[dict]) -> None:
    """Word times inside every segment, spread evenly (the synthetic transcripts have segments only)."""
    for r in rows:
        path = output / "transcripts" / f"{r['id']}.json"
        if r["status"] != "ok" or not path.is_file():
            continue
        t = json.loads(path.read_text())
        for s in t["segments"]:
            words = s["text"].split()
            step = (s["end"] - s["start"]) / max(len(words), 1)
            s["words"] = [{"start": round(s["start"] + i * step, 2), "end": round(s["start"] + (i + 0.8) * step, 2), "word": " " + w,
                           "probability": 0.9} for i, w in enumerate(words)]
        path.write_text(json.dumps(t))


def timed(fn, *a):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*a)
    return out, round(time.perf_counter() - t0, 1), round(time.process_time() - c0, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=37000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temporary folder)")
    ap.add_argument("--pages-only", action="store_true", help="time the pages alone, on what an earlier run left in --keep")
    ap.add_argument("--json")
    args = ap.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="callscribe-analytics-"))
    data, out = root / "data", root / "data" / "output"
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"calls": args.calls}
    p = parse(project_params.load(REPO / "params.yaml").get("analytics"))
    if not args.pages_only:
        stage(res, data, out, p, args.calls)
    con = report.attach(out / "calls.db", out / "analytics.db")  # what the stage keeps for the page
    store.keep_summary(out / "analytics.db", report.summary(con, list(p.trackers)))
    con.close()
    pages(res, data, out, args.repeat)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


def stage(res: dict, data: Path, out: Path, p, calls: int) -> None:
    """The analytics update from nothing, with nothing changed, after a new month, after a tracker change."""
    root = data.parent
    rows = synthetic_calls.write(out, calls, seed=0)
    add_words(out, rows)
    build(out / "calls.jsonl", out / "calls.db", data)
    res["audio_hours"] = round(sum(r["duration"] for r in rows) / 3600)
    db, model = out / "analytics.db", out / "reasons-model.joblib"
    stats, res["first_s"], res["first_cpu_s"] = timed(update, out / "calls.db", data, db, model, p, {})
    res["measured"] = stats.measured
    print(f"{calls} calls ({res['audio_hours']} h), {stats.measured} transcribed: analytics from nothing {res['first_s']} s "
          f"({res['first_cpu_s']} s CPU)", flush=True)
    stats, res["unchanged_s"], _ = timed(update, out / "calls.db", data, db, model, p, {})
    assert stats.measured == 0
    add_words(out, synthetic_calls.add(out, root / "new", 1000, seed=0, start_at=calls))
    build(out / "calls.jsonl", out / "calls.db", data)
    stats, res["new_month_s"], res["new_month_cpu_s"] = timed(update, out / "calls.db", data, db, model, p, {})
    res["new_month_measured"] = stats.measured
    assert not stats.refitted
    p2 = parse({**p.model_dump(), "trackers": {**p.model_dump()["trackers"], "refund": {"phrases": ["the refund should arrive"]}}})
    stats, res["tracker_change_s"], res["tracker_change_cpu_s"] = timed(update, out / "calls.db", data, db, model, p2, {})
    assert not stats.refitted and stats.measured == stats.calls
    print(f"nothing changed {res['unchanged_s']} s; a new month (1,000 calls, {res['new_month_measured']} measured) "
          f"{res['new_month_s']} s; "
          f"a tracker added (every call matched again, no refit) {res['tracker_change_s']} s "
          f"({res['tracker_change_cpu_s']} s CPU)", flush=True)


def pages(res: dict, data: Path, out: Path, repeat: int) -> None:
    db = out / "analytics.db"
    with serve(data, out / "calls.db") as base:
        import httpx

        http = httpx.Client(base_url=base, timeout=60)
        for label, url in [("report", "/report"), ("calls of a reason", "/report/calls?reason=" + _a_reason(db)),
                           ("calls of a tracker", "/report/calls?tracker=cancel"),
                           ("calls of a month+queue", "/report/calls?month=2025-06&queue=300")]:
            t0 = time.perf_counter()
            assert http.get(url).status_code == 200
            first = (time.perf_counter() - t0) * 1000
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                r = http.get(url)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
            q = statistics.quantiles(times, n=20, method="inclusive")
            res[label] = {"first_ms": round(first, 1), "p50_ms": round(statistics.median(times), 1), "p95_ms": round(q[18], 1)}
            print(f"{label:<20} first {first:7.1f} ms   p50 {statistics.median(times):6.1f} ms   p95 {q[18]:6.1f} ms", flush=True)


def _a_reason(db: Path) -> str:
    import sqlite3
    from urllib.parse import quote

    return quote(sqlite3.connect(db).execute("SELECT name FROM topics ORDER BY calls DESC LIMIT 1").fetchone()[0])


if __name__ == "__main__":
    sys.exit(main())
