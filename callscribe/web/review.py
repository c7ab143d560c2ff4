"""The review page: hear an excerpt of the queue (labels/queue.jsonl), correct its lines, save a label.

The one route that writes is POST /review/label. It takes JSON only, from this page only: the Origin
must be this server's own, a fetch from another site is refused by its Sec-Fetch-Site, and the
X-Review-Token header must carry the token made when the server started (a page from elsewhere
cannot read it). A label is written only for an excerpt that is in the queue.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from callscribe import labels as store
from callscribe.review import read_queue

WRITE_PATH = "/review/label"
MAX_BODY = 256 * 1024


def excerpt_lines(transcript: dict | None, start: float, end: float) -> list[dict]:
    """The transcript's lines inside the excerpt (words by midpoint, as evaluate counts them)."""
    from callscribe.scoring import excerpt_words  # jiwer and numpy: only when a page is asked for

    lines = []
    for seg in (transcript or {}).get("segments") or []:
        inside = excerpt_words({"segments": [seg]}, start, end)
        if not inside:
            continue
        words = [w for w in seg.get("words") or [] if start <= (w["start"] + w["end"]) / 2 < end]
        a, b = (words[0]["start"], words[-1]["end"]) if words else (seg["start"], seg["end"])
        lines.append({"start": round(max(a, start), 3), "end": round(min(b, end), 3), "speaker": seg.get("speaker"),
                      "text": "".join(w for w, _ in inside).strip() if words else (seg.get("text") or "").strip()})
    return lines


def progress(queue: list[dict], done: dict[str, dict]) -> dict:
    ids = {e["id"] for e in queue}
    verified = [lab for key, lab in done.items() if key in ids and lab.get("verified")]
    return {"reviewed": len(verified), "total": len(queue),
            "minutes": round(sum(lab["end"] - lab["start"] for lab in verified) / 60, 1)}


def routes(templates, labels_dir: Path, read_transcript, redact_settings=None) -> list[Route]:
    """The review routes; `read_transcript(call_id)` gives a call's JSON transcript (or None)."""
    queue_path, labels_path = Path(labels_dir) / "queue.jsonl", Path(labels_dir) / "labels.jsonl"
    token = secrets.token_urlsafe(24)

    async def page(request: Request):
        queue = read_queue(queue_path)
        done = store.by_excerpt(labels_path)
        if not queue:
            return templates.TemplateResponse(request, "review.html", {"excerpt": None, "progress": progress([], {})})
        try:
            n = int(request.query_params.get("n", ""))
        except ValueError:  # the first excerpt not yet verified
            n = next((i for i, e in enumerate(queue) if not done.get(e["id"], {}).get("verified")), 0)
        if not 0 <= n < len(queue):
            return RedirectResponse(f"/review?n={max(0, min(n, len(queue) - 1))}", 303)
        e = queue[n]
        label = done.get(e["id"])
        lines = label["turns"] if label else excerpt_lines(await run_in_threadpool(read_transcript, e["call"]), e["start"], e["end"])
        speakers = sorted({x["speaker"] for x in lines if x.get("speaker")} | {"agent", "caller"})
        ctx = {"excerpt": e, "n": n, "label": label, "progress": progress(queue, done), "token": token,
               "state": json.dumps({"excerpt": e["id"], "start": e["start"], "end": e["end"], "lines": lines, "n": n,
                                    "total": len(queue), "verified": bool(label and label.get("verified")),
                                    "speakers": speakers}).replace("<", "\\u003c")}  # no "</script>" from a transcript
        return templates.TemplateResponse(request, "review.html", ctx)

    async def save(request: Request):
        refuse_cross_site(request, token)
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(413, "label too large")
        try:
            data = json.loads(body)
            excerpt_id, lines, verified = data["excerpt"], data["lines"], data.get("verified", False) is True
        except (ValueError, KeyError, TypeError) as e:
            raise HTTPException(400, "send JSON {excerpt, lines, verified}") from e
        excerpt = next((e for e in read_queue(queue_path) if e["id"] == excerpt_id), None)
        if excerpt is None:
            raise HTTPException(404, "no such excerpt in the review queue")
        try:
            label = await run_in_threadpool(store.save, labels_path, excerpt, lines, bool(verified), redact_settings)
        except store.LabelError as e:
            raise HTTPException(400, str(e)) from e
        return JSONResponse({"saved": label["updated"], "turns": label["turns"],
                             "progress": progress(read_queue(queue_path), store.by_excerpt(labels_path))})

    return [Route("/review", page, methods=["GET"]), Route(WRITE_PATH, save, methods=["POST"])]


def refuse_cross_site(request: Request, token: str) -> None:
    """403 unless the request comes from this server's own page: same origin, and the page's token."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != own or request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        raise HTTPException(403, "writes are taken only from this server's own review page (same origin)")
    if not secrets.compare_digest(request.headers.get("x-review-token", "").encode(), token.encode()):
        raise HTTPException(403, "the review token is missing or wrong: reload the review page")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, "send the label as application/json")
