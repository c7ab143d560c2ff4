"""Screenshots of `callscribe serve` for docs/: the search page and a call page, in Debian's headless Chromium.

    python scripts/screenshots.py [--data data] [--query printing] [--out docs]

Needs the index (`dvc repro`) and the `chromium` package; the server listens on 127.0.0.1 and stops at the end.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data")
    ap.add_argument("--query", default="printing")
    ap.add_argument("--out", default="docs")
    args = ap.parse_args()
    import uvicorn
    from playwright.sync_api import sync_playwright

    from callscribe.web.app import create_app

    data = Path(args.data)
    app = create_app(data, data / "output" / "calls.db", allowed_hosts=["127.0.0.1"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base, out = f"http://127.0.0.1:{port}", Path(args.out)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page(viewport={"width": 1100, "height": 760}, device_scale_factor=1)
            page.goto(base + "/")
            page.fill("input[name=q]", args.query)
            page.press("input[name=q]", "Enter")
            page.wait_for_selector(".hit mark")
            page.screenshot(path=str(out / "serve-search.png"))
            # The hit in the longest call: the page scrolls to it and the player starts there.
            links = page.locator(".hit-link")
            best = max(range(links.count()), key=lambda i: float(links.nth(i).get_attribute("href").split("t=")[1].split("&")[0]))
            links.nth(best).click()
            page.wait_for_selector(".line.playing", timeout=15000)
            page.wait_for_timeout(1200)
            page.evaluate("document.getElementById('player').pause()")
            page.screenshot(path=str(out / "serve-call.png"))
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "serve-call-top.png"))
            browser.close()
    finally:
        server.should_exit = True
        thread.join()
    print(f"wrote {out}/serve-search.png, serve-call.png, serve-call-top.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
