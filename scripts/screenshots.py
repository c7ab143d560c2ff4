"""Screenshots of `callscribe serve` for docs/: the search page, a call page and the review page, in Debian's headless Chromium.

    python scripts/screenshots.py [--data data] [--query printing] [--labels labels] [--out docs]

Needs the index (`dvc repro`) and the `chromium` package; the server listens on 127.0.0.1 and stops at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def review_shot(browser, base: str, labels: Path, out: Path) -> None:
    """The review page at 1280x800 on the queue's longest excerpt, a few seconds played, a line being edited."""
    import json

    queue = [json.loads(line) for line in open(labels / "queue.jsonl")] if (labels / "queue.jsonl").is_file() else []
    if not queue:
        return
    n = max(range(len(queue)), key=lambda i: queue[i]["end"] - queue[i]["start"])
    page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    page.goto(f"{base}/review?n={n}")
    page.wait_for_selector("#lines .line")
    page.keyboard.press("Control+Space")
    page.wait_for_timeout(4000)
    page.keyboard.press("Control+Space")
    page.locator("#lines .line .text").nth(min(1, page.locator("#lines .line").count() - 1)).focus()
    page.screenshot(path=str(out / "review.png"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data")
    ap.add_argument("--query", default="printing")
    ap.add_argument("--labels", default="labels", help="its queue.jsonl gives the review page (`callscribe review --sample 8`)")
    ap.add_argument("--out", default="docs")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from callscribe.web import background
    from callscribe.web.app import create_app

    data, out = Path(args.data), Path(args.out)
    app = create_app(data, data / "output" / "calls.db", allowed_hosts=["127.0.0.1"], labels_dir=Path(args.labels))
    with background(app) as base, sync_playwright() as p:
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
        review_shot(browser, base, Path(args.labels), out)
        browser.close()
    print(f"wrote {out}/serve-search.png, serve-call.png, serve-call-top.png" + (", review.png" if (out / "review.png").exists() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
