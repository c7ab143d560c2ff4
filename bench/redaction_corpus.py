"""What redaction finds in ordinary speech: every reference transcript under ../shared/data (read speech,
digits, accented prompts, three real service calls), where only SpokenWOZ's calls hold personal data.

    python bench/redaction_corpus.py [--data ../shared/data] [--json bench/results/redaction-corpus.json]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from callscribe.redact import RedactSettings, find

SHARED = Path(os.environ.get("CALLSCRIBE_SHARED", Path(__file__).resolve().parents[2] / "shared" / "data"))  # as redaction_audio.py


def texts(root: Path) -> list[tuple[str, str]]:
    """(folder, text) for each reference text and channel text of the manifests."""
    out = []
    for manifest in sorted(root.glob("*/manifest.jsonl")):
        for line in manifest.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            channels = r.get("channel_texts") or []
            for t in [r.get("text"), *(channels.values() if isinstance(channels, dict) else channels)]:
                if isinstance(t, str) and t.strip():
                    out.append((manifest.parent.name, t))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--json")
    args = ap.parse_args()
    settings, found = RedactSettings(enabled=True), []
    all_texts = texts(Path(args.data))
    for folder, text in all_texts:
        words = text.split()
        found += [{"set": folder, "kind": f.kind, "words": " ".join(words[i] for i in f.words)} for f in find(words, settings)]
    print(f"{len(all_texts)} texts, {len(found)} spans found")
    for f in found:
        print(f"  {f['set']}: {f['kind']}: {f['words']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"texts": len(all_texts), "found": found}, indent=2) + "\n")


if __name__ == "__main__":
    main()
