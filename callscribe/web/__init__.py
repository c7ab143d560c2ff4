"""`callscribe serve`: a local web page over the index to search, read and listen, and to review excerpts (app.py)."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import sys

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="search, read and listen in a browser, and review excerpts (local)",
                       description="Serves the index and the call audio at http://127.0.0.1:PORT/ (GET only), "
                                   "and the review page /review, whose one write saves a label (labels/labels.jsonl).")
    p.add_argument("--data", default="data", help="the project's data folder: the only files served (default data)")
    p.add_argument("--db", default=None, help="the index (default DATA/output/calls.db)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8484, help="port (default 8484)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --host other than this machine; every request then needs the printed token")
    p.add_argument("--labels", default="labels", help="the review queue and labels folder (default labels; page /review)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redaction():
    """params.yaml's redact settings, for what a reviewer types (labels are pushed like transcripts)."""
    from callscribe.redact import RedactSettings

    try:
        from callscribe import params

        return RedactSettings.from_params(params.read()["redact"])
    except (OSError, ValueError):  # no params.yaml here: mask every kind, as the pipeline's default does
        return RedactSettings(enabled=True)


def run(args) -> int:
    from pathlib import Path

    import uvicorn

    from callscribe.web.app import create_app

    token = None
    if not is_loopback(args.host):
        if not args.allow_remote:
            print(f"callscribe serve: --host {args.host} makes the transcripts readable from other machines; "
                  "add --allow-remote to do so (every request then needs a token)", file=sys.stderr)
            return 2
        token = secrets.token_urlsafe(24)
    db = Path(args.db) if args.db else Path(args.data) / "output" / "calls.db"
    try:
        app = create_app(Path(args.data), db, token=token, allowed_hosts=None if token else [*LOOPBACK, f"{args.host}"],
                         labels_dir=Path(args.labels), redact_settings=redaction())
    except FileNotFoundError as e:
        print(f"callscribe serve: {e}", file=sys.stderr)
        return 2
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{shown}:{args.port}/" + (f"?token={token}" if token else "")
    print(f"callscribe serve: {url}  (Ctrl-C stops)", file=sys.stderr)
    if args.open:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, [url]).start()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


@contextlib.contextmanager
def background(app, host: str = "127.0.0.1"):
    """The app under uvicorn in a thread on a free port of `host`, stopped on leaving (tests, screenshots)."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline and thread.is_alive():
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
