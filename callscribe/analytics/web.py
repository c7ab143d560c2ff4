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
    trackers = [r[0] for r in con.execute("SELECT DISTINCT tracker FROM a.hits ORDER BY tracker")]
    day = report.calls_per_day(con)
    days = sorted({r["date"] for r in day})
    queues = sorted({r["queue"] for r in day})
    per_day = [(q, {r["date"]: (r["calls"], "/?" + urlencode({**({"queue": q} if q != "-" else {}), "from": r["date"], "to": r["date"]}))
                    for r in day if r["queue"] == q}) for q in queues]
    month = report.reasons_per_month(con)
    months = sorted({r["month"] for r in month})
    names = sorted({r["reason"] for r in month}, key=lambda n: (n == report.NO_REASON, n))
    per_month = [(n, {r["month"]: (r["calls"], _link(reason=n, month=r["month"])) for r in month if r["reason"] == n}) for n in names]
    hold = report.hold_per_queue(con)
    length = report.length_per_reason(con)
    tracked = report.tracker_calls(con, trackers)
    topics = [{"topic": t, "name": n, "phrases": json.loads(p), "calls": c}
              for t, n, p, c in con.execute("SELECT topic, name, phrases, calls FROM a.topics ORDER BY topic")]
    return {
        "headline": report.headline(con, trackers),
        "calls_per_day": charts.stacked(days, per_day, "calls", "calls per day by queue"),
        "reasons_per_month": charts.stacked(months, per_month, "calls", "call reasons per month"),
        "hold_per_queue": charts.stacked([r["queue"] for r in hold],
                                         [("hold", {r["queue"]: (r["mean_hold_s"], _link(queue=r["queue"], hold="1")) for r in hold})],
                                         "s", "mean hold per call by queue"),
        "length_per_reason": charts.horizontal([(r["reason"], r["median_minutes"], _link(reason=r["reason"])) for r in length], "min",
                                               "median call length per reason"),
        "trackers": charts.horizontal([(t["tracker"], t["calls"], _link(tracker=t["tracker"])) for t in tracked], "calls",
                                      "calls per tracker"),
        "topics": topics,
        "menus": {"reasons": [n for n in names], "months": months, "queues": [q for q in queues if q != "-"], "trackers": trackers},
    }


def _calls(con, form: dict, page: int) -> tuple[list[dict], int]:
    """The calls matching the report's filters (newest first), each with its tracker hits when a tracker is asked for."""
    where, args = [], []
    if form["reason"]:
        where.append(f"{report.REASON_SQL} = ?")
        args.append(form["reason"])
    if form["month"]:
        where.append("substr(m.date, 1, 7) = ?")
        args.append(form["month"])
    if form["queue"]:
        where.append("m.queue = ?")
        args.append(form["queue"])
    if form["hold"]:
        where.append("m.holds > 0")
    if form["tracker"]:
        where.append("EXISTS (SELECT 1 FROM a.hits h WHERE h.call = m.call AND h.tracker = ?)")
        args.append(form["tracker"])
    sql = f"{report.JOIN_SQL} JOIN calls c ON c.id = m.call WHERE 1{''.join(' AND ' + w for w in where)}"
    total = con.execute(f"SELECT count(*) {sql}", args).fetchone()[0]
    cols = ["call", "date", "time", "queue", "caller", "duration_s", "hold_s", "reason", "text"]
    rows = [dict(zip(cols, r)) for r in con.execute(
        f"""SELECT m.call, c.date, c.time, c.queue, c.caller, m.duration_s, m.hold_s, {report.REASON_SQL}, substr(c.text, 1, 90)
            {sql} ORDER BY c.date DESC, c.time DESC LIMIT ? OFFSET ?""", [*args, PAGE, (page - 1) * PAGE])]
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
