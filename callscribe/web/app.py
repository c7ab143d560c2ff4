"""The web app: Starlette routes over the index; Jinja2 templates; the call audio as PCM WAV with range requests.

Safety: files are found only through the index (a call id that is not in it is a 404 before any file is
touched), and every path is resolved, symlinks included, and must lie inside the data folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from pathlib import Path
from urllib.parse import quote, urlencode

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from callscribe import search as q
from callscribe.analytics.web import routes as report_routes
from callscribe.index import connect
from callscribe.web import review

HERE = Path(__file__).parent
PAGE_SIZE = 20
DOWNLOADS = {"txt": "text/plain; charset=utf-8", "srt": "application/x-subrip", "vtt": "text/vtt; charset=utf-8",
             "json": "application/json"}
SHA256 = re.compile(r"[0-9a-f]{64}")
TOKEN_COOKIE = "callscribe_token"


class OnlyGet:
    """Refuses every method but GET (and HEAD, a GET without its body) before any route runs;
    only the review page's label route takes a POST (and checks it: callscribe.web.review)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        allowed = scope["type"] != "http" or scope["method"] in ("GET", "HEAD")
        if not allowed and (scope["method"], scope["path"]) != ("POST", review.WRITE_PATH):
            await PlainTextResponse("read-only: only GET", 405, headers={"Allow": "GET, HEAD"})(scope, receive, send)
            return
        await self.app(scope, receive, send)


class TokenGate:
    """When serving beyond this machine: every request carries the token (?token= once, then a cookie)."""

    def __init__(self, app, token: str | None):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if self.token is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            await PlainTextResponse("a token is needed: open the address `callscribe serve` printed", 403)(scope, receive, send)
            return
        if request.query_params.get("token"):  # keep it in a cookie, so links need not carry it

            async def send_with_cookie(message):
                if message["type"] == "http.response.start":
                    cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                    message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send)


def speaker_class(speaker: str | None) -> str:
    """A colour class per speaker, the same on every page: agent and caller fixed, SPEAKER_nn by its number."""
    if not speaker:
        return "spk-none"
    if speaker.lower() in ("agent", "caller"):
        return f"spk-{speaker.lower()}"
    digits = re.search(r"(\d+)$", speaker)
    return f"spk-{(int(digits.group(1)) if digits else sum(map(ord, speaker))) % 8}"


def create_app(data_dir: Path, db: Path, token: str | None = None, allowed_hosts: list[str] | None = None,
               cache_dir: Path | None = None, labels_dir: Path | None = None, redact_settings=None) -> Starlette:
    data_root = Path(data_dir).resolve()
    cache = Path(cache_dir) if cache_dir else data_root / "web-cache"
    con = connect(db, readonly=True)  # raises FileNotFoundError naming the fix
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["clock"] = q.clock
    templates.env.filters["speaker_class"] = speaker_class
    templates.env.filters["urlpath"] = lambda s: quote(s, safe="/")
    templates.env.filters["mark"] = lambda s: Markup(str(escape(s)).replace(q.MARK_ON, "<mark>").replace(q.MARK_OFF, "</mark>"))

    menus = {}

    def choices() -> dict:
        """The filter menus' values, read again only when the index file changes."""
        stamp = os.stat(db).st_mtime_ns
        if stamp not in menus:
            menus.clear()
            menus[stamp] = _choices()
        return menus[stamp]

    def _choices() -> dict:
        return {"queues": [r[0] for r in con.execute("SELECT DISTINCT queue FROM calls WHERE queue IS NOT NULL ORDER BY queue")],
                "speakers": [r[0] for r in con.execute("SELECT DISTINCT speaker FROM talk ORDER BY speaker")],
                "total_calls": con.execute("SELECT count(*) FROM calls").fetchone()[0]}

    def inside_data(rel: str | None) -> Path:
        """The file `rel` (relative to the data folder) when it is a regular file inside it, else 404."""
        if not rel:
            raise HTTPException(404)
        path = (data_root / rel).resolve()
        if not path.is_relative_to(data_root) or not path.is_file():
            raise HTTPException(404)
        return path

    def lookup(call_id: str):
        found = q.call(con, call_id)
        if found is None:
            raise HTTPException(404, "no such call")
        return found

    async def home(request: Request):
        p = request.query_params
        form = {k: p.get(k, "").strip() for k in ("q", "queue", "from", "to", "caller", "speaker", "order")}
        try:
            page = max(1, min(int(p.get("page", "1")), 10_000))
        except ValueError:
            page = 1
        ctx = {"form": form, "page": page, "error": None, "rank_window": q.RANK_WINDOW, "hits": [], "calls": [], "count": 0,
               "more": False, **choices()}
        try:
            filters = q.Filters(form["queue"], form["from"], form["to"], form["caller"], form["speaker"])
            offset = (page - 1) * PAGE_SIZE
            if form["q"]:
                hits, ctx["count"] = q.search_page(con, form["q"], filters, PAGE_SIZE + 1, offset)
                ctx["hits"], ctx["more"] = hits[:PAGE_SIZE], len(hits) > PAGE_SIZE
            else:
                rows = q.calls(con, filters, PAGE_SIZE + 1, offset, order=form["order"] or "newest")
                ctx["calls"], ctx["more"] = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
        except q.QueryError as e:
            ctx["error"] = str(e)
        keep = {k: v for k, v in form.items() if v}
        ctx["page_url"] = lambda n: "/?" + urlencode({**keep, "page": n})
        ctx["call_url"] = lambda call_id, **kw: f"/call/{quote(call_id, safe='/')}" + ("?" + urlencode(kw) if kw else "")
        return templates.TemplateResponse(request, "search.html", ctx, status_code=400 if ctx["error"] else 200)

    async def call_page(request: Request):
        row, segs = lookup(request.path_params["id"])
        speakers = json.loads(row["speakers"]) if row["speakers"] else {}
        colours = {s: speaker_class(s) for s in [*speakers, *(seg["speaker"] for seg in segs)]}
        try:
            t = max(0.0, float(request.query_params.get("t", "0")))
        except ValueError:
            t = 0.0
        seg = request.query_params.get("seg", "")
        ctx = {"call": row, "segs": segs, "speakers": speakers, "colours": colours, "t": t,
               "seg": int(seg) if seg.isdigit() else None, "q": request.query_params.get("q", ""),
               "downloads": [f for f in DOWNLOADS if row["transcript"] and _exists_inside(data_root, f"{row['transcript']}.{f}")],
               "has_audio": row["audio"] is not None and _exists_inside(data_root, row["audio"]),
               "talk_total": sum(speakers.values()) or 1.0}
        return templates.TemplateResponse(request, "call.html", ctx)

    def transcode(src: Path, key: str) -> Path:
        """The call's audio as 16-bit PCM WAV, which every browser plays (GSM 6.10 WAV plays in none), cached."""
        import soundfile as sf

        from callscribe.audio import decode  # numpy and soundfile: only when audio is asked for

        cache.mkdir(parents=True, exist_ok=True)
        out = cache / f"{key}.wav"
        if out.is_file() and out.stat().st_mtime >= src.stat().st_mtime:
            return out
        audio, sr, _ = decode(src)
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".wav.tmp")
        os.close(fd)
        try:
            sf.write(tmp, audio.T, sr, subtype="PCM_16", format="WAV")
            os.replace(tmp, out)  # atomic: a request never sees half a file
        finally:
            Path(tmp).unlink(missing_ok=True)
        return out

    async def audio(request: Request):
        row, _ = lookup(request.path_params["id"])
        src = inside_data(row["audio"])
        key = row["sha256"] if row["sha256"] and SHA256.fullmatch(row["sha256"]) else None
        if key is None:
            raise HTTPException(404, "the index has no hash for this call's audio: rebuild it with `dvc repro -f index`")
        try:
            wav = await run_in_threadpool(transcode, src, key)
        except Exception as e:  # noqa: BLE001 - an unreadable recording is this call's problem, not the server's
            raise HTTPException(404, f"the audio cannot be decoded: {e}") from e
        return FileResponse(wav, media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"})

    async def download(request: Request):
        fmt = request.path_params["fmt"]
        if fmt not in DOWNLOADS:
            raise HTTPException(404)
        row, _ = lookup(request.path_params["id"])
        path = inside_data(f"{row['transcript']}.{fmt}" if row["transcript"] else None)
        return FileResponse(path, media_type=DOWNLOADS[fmt], filename=f"{Path(row['name'] or 'call').stem}.{fmt}")

    def read_transcript(call_id: str) -> dict | None:
        row = q.call(con, call_id)
        rel = f"{row[0]['transcript']}.json" if row and row[0]["transcript"] else None
        return json.loads(inside_data(rel).read_text(encoding="utf-8")) if rel and _exists_inside(data_root, rel) else None

    routes = [
        *review.routes(templates, Path(labels_dir) if labels_dir else data_root.parent / "labels", read_transcript, redact_settings),
        Route("/", home, methods=["GET"]),
        Route("/call/{id:path}", call_page, methods=["GET"]),
        Route("/audio/{id:path}", audio, methods=["GET"]),
        Route("/download/{fmt}/{id:path}", download, methods=["GET"]),
        *report_routes(templates, Path(db), Path(db).parent / "analytics.db"),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [Middleware(OnlyGet), Middleware(TokenGate, token=token)]
    if allowed_hosts:  # a page bound to 127.0.0.1 answers only to local names (no DNS rebinding)
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.db = con
    return app


def _exists_inside(root: Path, rel: str) -> bool:
    path = (root / rel).resolve()
    return path.is_relative_to(root) and path.is_file()
