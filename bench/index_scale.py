"""The search index at archive scale: build time, size, and query latency from Python, the shell and HTTP.

    python bench/index_scale.py                    # 37,000 synthetic calls (~1,600 h, ~10 M words)
    python bench/index_scale.py --calls 2000 --json out.json

Writes synthetic merge outputs (bench/synthetic_calls.py) to a temporary data folder, builds
data/output/calls.db from scratch, then adds a new month (1,000 calls) and re-runs with nothing changed
(the incremental paths), then times typical queries with and without filters: in-process
(`callscribe.search.search`), as `callscribe search` processes, and as HTTP requests to `callscribe serve`
(search pages and call pages) on 127.0.0.1. Prints a table and, with --json, writes the figures.
Each query runs once untimed first (its wall time is reported as "first": the index's pages being read),
then `--repeat` times. Each latency comes with the CPU time it took (this process's for in-process and HTTP, server and client
together; the child's for the shell): on a shared, loaded machine the wall time measures the load,
the CPU time what an idle core would take.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import synthetic_calls  # noqa: E402
from callscribe import search as q  # noqa: E402
from callscribe.index import build, connect  # noqa: E402

QUERIES = [  # (label, query, filters)
    ("word", "cancel", {}),
    ("word, rare", None, {}),  # a mid-frequency word of the synthetic vocabulary, picked below
    ("phrase", '"claim number"', {}),
    ("prefix", "superv*", {}),
    ("boolean", "refund OR discount NOT email", {}),
    ("word + queue", "cancel", {"queue": "301"}),
    ("word + month", "refund", {"date_from": "2025-06-01", "date_to": "2025-06-30"}),
    ("phrase + speaker", '"water damage"', {"speaker": "agent"}),
    ("word + caller", "invoice", {"caller": None}),  # the most frequent caller, picked below
    ("all filters", "cancel*", {"queue": "300", "date_from": "2025-05-01", "date_to": "2025-07-31", "speaker": "caller"}),
]


def pct(times: list[float], p: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[p - 1] * 1000 if len(times) > 1 else times[0] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=37000)
    ap.add_argument("--repeat", type=int, default=20, help="runs of each query in-process and over HTTP")
    ap.add_argument("--shell-repeat", type=int, default=5, help="runs of each query as a `callscribe search` process")
    ap.add_argument("--keep", help="build in this folder and keep it (default: a temporary folder)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="callscribe-index-"))
    data = root / "data"
    out = data / "output"
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"calls": args.calls}

    t0 = time.perf_counter()
    rows = synthetic_calls.write(out, args.calls, seed=0)
    res["generate_s"] = round(time.perf_counter() - t0, 1)
    ok = [r for r in rows if r["status"] == "ok"]
    res["audio_hours"] = round(sum(r["duration"] for r in rows) / 3600)
    res["words_millions"] = round(sum(len(r["text"].split()) for r in ok) / 1e6, 2)
    db = out / "calls.db"
    db.unlink(missing_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    stats = build(out / "calls.jsonl", db, data)
    res["build_s"] = round(time.perf_counter() - t0, 1)
    res["build_cpu_s"] = round(time.process_time() - c0, 1)
    res["segments"] = stats.segments
    res["db_mb"] = round(db.stat().st_size / 1e6)
    print(f"{args.calls} calls, {res['audio_hours']} h, {res['words_millions']} M words, {stats.segments} segments: "
          f"built in {res['build_s']} s ({res['build_cpu_s']} s CPU), {res['db_mb']} MB", flush=True)

    t0 = time.perf_counter()
    stats = build(out / "calls.jsonl", db, data)
    res["rebuild_unchanged_s"] = round(time.perf_counter() - t0, 1)
    month = synthetic_calls.add(out, root / "new", 1000, seed=0, start_at=args.calls)
    t0 = time.perf_counter()
    stats = build(out / "calls.jsonl", db, data)
    res["add_1000_calls_s"] = round(time.perf_counter() - t0, 1)
    assert stats.added == 1000, stats
    print(f"incremental: nothing changed {res['rebuild_unchanged_s']} s, 1,000 new calls {res['add_1000_calls_s']} s", flush=True)

    # The generated calls are a large heap: a full garbage collection of it during a timed query took ~130 ms
    # of CPU, which a server (whose heap is small) never pays. Drop it and freeze what is left.
    del rows, ok, month
    gc.collect()
    gc.freeze()
    con = connect(db, readonly=True)
    rare = con.execute("SELECT term FROM segments_fts_v WHERE doc BETWEEN 200 AND 400 LIMIT 1").fetchone() \
        if _vocab_table(con) else None
    caller = con.execute("SELECT caller FROM calls GROUP BY caller ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    queries = []
    for label, query, filters in QUERIES:
        if query is None:
            query = rare[0] if rare else "kalo"
        if "caller" in filters:
            filters = {**filters, "caller": caller}
        queries.append((label, query, filters))

    res["queries"] = []
    print("\nmilliseconds, wall (CPU): p50 and p95")
    print(f"{'query':<18}{'matches':>8}" + "".join(f"{h:>16}" for h in ("python p50", "python p95", "shell p50", "shell p95", "http p50",
                                                                    "http p95")) + f"{'first':>10}")
    with serve(data, db) as base:
        import httpx

        http = httpx.Client(base_url=base, timeout=30)
        for label, query, filters in queries:
            f = q.Filters(**filters)
            py, sh, ht, py_cpu, sh_cpu, ht_cpu = [], [], [], [], [], []
            t0 = time.perf_counter()
            q.search_page(con, query, f)  # the first run reads the index's pages: timed apart, as "first"
            first = time.perf_counter() - t0
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                hits, matches = q.search_page(con, query, f)  # what a search page needs: a page of hits and the total
                py.append(time.perf_counter() - t0)
                py_cpu.append(time.process_time() - c0)
            cli = [sys.executable, "-m", "callscribe.cli", "search", query, "--db", str(db)]
            for k, v in filters.items():
                cli += [{"date_from": "--from", "date_to": "--to"}.get(k, f"--{k}"), v]
            for _ in range(args.shell_repeat):
                t0, c0 = time.perf_counter(), _children_cpu()
                subprocess.run(cli, capture_output=True, check=False, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
                sh.append(time.perf_counter() - t0)
                sh_cpu.append(_children_cpu() - c0)
            params = {"q": query, **{{"date_from": "from", "date_to": "to"}.get(k, k): v for k, v in filters.items()}}
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                r = http.get("/", params=params)
                ht.append(time.perf_counter() - t0)
                ht_cpu.append(time.process_time() - c0)  # server and client: both run in this process
                assert r.status_code == 200, (query, r.status_code)
            row = {"label": label, "query": query, "filters": filters, "hits_shown": len(hits), "matches": matches,
                   "first_ms": first * 1000,
                   "py_p50_ms": pct(py, 50), "py_p95_ms": pct(py, 95), "shell_p50_ms": pct(sh, 50), "shell_p95_ms": pct(sh, 95),
                   "http_p50_ms": pct(ht, 50), "http_p95_ms": pct(ht, 95),
                   "py_cpu_p50_ms": pct(py_cpu, 50), "py_cpu_p95_ms": pct(py_cpu, 95), "shell_cpu_p50_ms": pct(sh_cpu, 50),
                   "shell_cpu_p95_ms": pct(sh_cpu, 95), "http_cpu_p50_ms": pct(ht_cpu, 50), "http_cpu_p95_ms": pct(ht_cpu, 95)}
            res["queries"].append({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()})
            print(f"{label:<18}{row['matches']:>8}" + "".join(
                f"{row[k + '_ms']:>8.1f} ({row[k.replace('_p', '_cpu_p') + '_ms']:>4.0f})"
                for k in ("py_p50", "py_p95", "shell_p50", "shell_p95", "http_p50", "http_p95")) + f"{row['first_ms']:>10.0f}", flush=True)
        # Call pages: the longest calls (most segments) and random ones.
        ids = [r[0] for r in con.execute(
            "SELECT c.id FROM calls c JOIN segments s ON s.call = c.n GROUP BY c.n ORDER BY count(*) DESC LIMIT 10")]
        ids += [r[0] for r in con.execute("SELECT id FROM calls WHERE status = 'ok' ORDER BY random() LIMIT 30")]
        pages, pages_cpu = [], []
        for call_id in ids:
            t0, c0 = time.perf_counter(), time.process_time()
            r = http.get("/call/" + quote(call_id, safe="/"))
            pages.append(time.perf_counter() - t0)
            pages_cpu.append(time.process_time() - c0)
            assert r.status_code == 200
        longest = con.execute("SELECT max(k) FROM (SELECT count(*) AS k FROM segments GROUP BY call)").fetchone()[0]
        res["call_page"] = {"p50_ms": round(pct(pages, 50), 1), "p95_ms": round(pct(pages, 95), 1),
                            "cpu_p50_ms": round(pct(pages_cpu, 50), 1), "cpu_p95_ms": round(pct(pages_cpu, 95), 1),
                            "most_segments": longest}
        t0 = time.perf_counter()
        http.get("/")
        res["home_page_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    print(f"\ncall page p50 {res['call_page']['p50_ms']} ms ({res['call_page']['cpu_p50_ms']} CPU), p95 {res['call_page']['p95_ms']} ms "
          f"({res['call_page']['cpu_p95_ms']} CPU) (longest: {longest} segments); "
          f"home page {res['home_page_ms']} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _vocab_table(con) -> bool:
    """An fts5vocab view of the index, to pick a word of middling frequency (in a temp schema: the file stays read-only)."""
    try:
        con.execute("CREATE VIRTUAL TABLE temp.segments_fts_v USING fts5vocab(main, segments_fts, row)")
        return True
    except Exception:  # noqa: BLE001 - without it, a fixed word
        return False


class serve:
    """`callscribe serve`'s app under uvicorn on 127.0.0.1, stopped on exit."""

    def __init__(self, data: Path, db: Path):
        import uvicorn

        from callscribe.web.app import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(create_app(data, db), host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join()


if __name__ == "__main__":
    sys.exit(main())
