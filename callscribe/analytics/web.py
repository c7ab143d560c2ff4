"""The report page of `callscribe serve` (/report) and the calls behind each bar (/report/calls).

Charts are SVG drawn here (callscribe.analytics.charts): no script, nothing loaded from outside. The
figures are read once per change of the index or analytics.db (their file times), so the page answers
from memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.routing import Route

from callscribe.analytics import charts, report

PAGE = 50


def routes(templates, index_db: Path, analytics_db: Path) -> list[Route]:
    cached: dict = {}

    def connection():
        """A connection with analytics.db attached, and the figures, both renewed when either file changes."""
        if not analytics_db.is_file():
            return None, None
        stamp = (os.stat(index_db).st_mtime_ns, os.stat(analytics_db).st_mtime_ns)
        if cached.get("stamp") != stamp:
            if cached.get("con"):
                cached["con"].close()
            con = report.attach(index_db, analytics_db)
            cached.update(stamp=stamp, con=con, figures=_figures(con))
        return cached["con"], cached["figures"]

    async def page(request: Request):
        con, figures = connection()
        return templates.TemplateResponse(request, "report.html", {"figures": figures, "db": analytics_db.name})

    async def calls(request: Request):
        con, figures = connection()
        p = request.query_params
        form = {k: p.get(k, "").strip() for k in ("reason", "month", "queue", "tracker", "hold")}
        try:
            page_no = max(1, int(p.get("page", "1")))
        except ValueError:
            page_no = 1
        rows, total = _calls(con, form, page_no) if con else ([], 0)
        keep = {k: v for k, v in form.items() if v}
        ctx = {"form": form, "rows": rows, "total": total, "page": page_no, "more": page_no * PAGE < total,
               "page_url": lambda n: "/report/calls?" + urlencode({**keep, "page": n}),
               "call_url": lambda call_id, **kw: f"/call/{quote(call_id, safe='/')}" + ("?" + urlencode(kw) if kw else ""),
               "menus": figures["menus"] if figures else {}, "ready": con is not None}
        return templates.TemplateResponse(request, "report_calls.html", ctx)

    return [Route("/report", page, methods=["GET"]), Route("/report/calls", calls, methods=["GET"])]


def _link(**kw) -> str:
    return "/report/calls?" + urlencode({k: v for k, v in kw.items() if v not in (None, "")})


def _figures(con) -> dict:
    kept = con.execute("SELECT value FROM a.meta WHERE key = 'report'").fetchone()
    if kept:
        data = json.loads(kept[0])
    else:  # made by update() alone (tests, benches): computed here
        data = report.summary(con, [r[0] for r in con.execute("SELECT DISTINCT tracker FROM a.hits ORDER BY tracker")])
    trackers = [t["tracker"] for t in data["trackers"]]
    day = data["calls_per_day"]
    days = sorted({r["date"] for r in day})
    queues = sorted({r["queue"] for r in day})
    per_day = [(q, {r["date"]: (r["calls"], "/?" + urlencode({**({"queue": q} if q != "-" else {}), "from": r["date"], "to": r["date"]}))
                    for r in day if r["queue"] == q}) for q in queues]
    month = data["reasons_per_month"]
    months = sorted({r["month"] for r in month})
    names = sorted({r["reason"] for r in month}, key=lambda n: (n == report.NO_REASON, n))
    per_month = [(n, {r["month"]: (r["calls"], _link(reason=n, month=r["month"])) for r in month if r["reason"] == n}) for n in names]
    hold, length, tracked = data["hold_per_queue"], data["length_per_reason"], data["trackers"]
    return {
        "headline": data["headline"],
        "calls_per_day": charts.stacked(days, per_day, "calls", "calls per day by queue"),
        "reasons_per_month": charts.stacked(months, per_month, "calls", "call reasons per month"),
        "hold_per_queue": charts.stacked([r["queue"] for r in hold],
                                         [("hold", {r["queue"]: (r["mean_hold_s"], _link(queue=r["queue"], hold="1")) for r in hold})],
                                         "s", "mean hold per call by queue"),
        "length_per_reason": charts.horizontal([(r["reason"], r["median_minutes"], _link(reason=r["reason"])) for r in length], "min",
                                               "median call length per reason"),
        "trackers": charts.horizontal([(t["tracker"], t["calls"], _link(tracker=t["tracker"])) for t in tracked], "calls",
                                      "calls per tracker"),
        "topics": data["topics"],
        "menus": {"reasons": [n for n in names], "months": months, "queues": [q for q in queues if q != "-"], "trackers": trackers},
    }


def _calls(con, form: dict, page: int) -> tuple[list[dict], int]:
    """The calls matching the report's filters (newest first), each with its tracker hits when a tracker is asked for.
    Filtered and paged in analytics.db's indexes alone; names and the index's fields are read for the page's calls
    only (joining every match took 100-400 ms on 37,000 calls)."""
    where, args = [], []
    if form["reason"] == report.NO_REASON:
        where.append("m.call IN (SELECT call FROM a.reasons WHERE topic IS NULL)")  # every measured call has a row
    elif form["reason"]:
        where.append("m.call IN (SELECT call FROM a.reasons WHERE topic IN (SELECT topic FROM a.topics WHERE name = ?))")
        args.append(form["reason"])
    if form["month"]:
        where.append("m.date BETWEEN ? AND ?")
        args += [f"{form['month']}-01", f"{form['month']}-31"]
    if form["queue"]:
        where.append("m.queue = ?")
        args.append(form["queue"])
    if form["hold"]:
        where.append("m.holds > 0")
    if form["tracker"]:
        where.append("m.call IN (SELECT call FROM a.hits WHERE tracker = ?)")
        args.append(form["tracker"])
    sql = f"FROM a.measures m WHERE 1{''.join(' AND ' + w for w in where)}"
    total = con.execute(f"SELECT count(*) {sql}", args).fetchone()[0]
    page_rows = con.execute(f"SELECT m.call, m.duration_s, m.hold_s {sql} ORDER BY m.date DESC, m.call DESC LIMIT ? OFFSET ?",
                            [*args, PAGE, (page - 1) * PAGE]).fetchall()
    ids = [r[0] for r in page_rows]
    marks = ",".join("?" * len(ids))
    fields = {r[0]: r[1:] for r in con.execute(
        f"SELECT id, date, time, queue, caller, substr(text, 1, 90) FROM calls WHERE id IN ({marks})", ids)} if ids else {}
    named = dict(con.execute(f"SELECT r.call, t.name FROM a.reasons r JOIN a.topics t ON t.topic = r.topic WHERE r.call IN ({marks})",
                             ids)) if ids else {}
    cols = ["call", "duration_s", "hold_s", "reason", "date", "time", "queue", "caller", "text"]
    rows = [dict(zip(cols, (*r, named.get(r[0], report.NO_REASON), *fields.get(r[0], (None,) * 5)))) for r in page_rows]
    if form["tracker"] and rows:
        marks = ",".join("?" * len(rows))
        hits: dict[str, list] = {}
        for call, start, seg, phrase, party, score in con.execute(
                f"""SELECT call, start, seg, phrase, party, score FROM a.hits WHERE tracker = ? AND call IN ({marks})
                    ORDER BY call, start""", [form["tracker"], *(r["call"] for r in rows)]):
            hits.setdefault(call, []).append({"start": start, "seg": seg, "phrase": phrase, "party": party, "score": score})
        for r in rows:
            r["hits"] = hits.get(r["call"], [])
    return rows, total
