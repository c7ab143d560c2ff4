"""params.yaml access for the stage scripts."""

from __future__ import annotations

from pathlib import Path

import yaml


def load(path: str | Path = "params.yaml") -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}
