"""What was masked in a set of calls, counted per kind (never values)."""

from __future__ import annotations

from collections import Counter

from callscribe.redact.settings import RedactSettings


class Tally:
    """The counts the records of a set of already-redacted calls carry, added up."""

    def __init__(self, settings: RedactSettings):
        self.settings = settings
        self.totals: Counter = Counter()
        self.calls = self.calls_redacted = 0

    def add(self, counts: dict | None) -> dict:
        """One call's counts (kind -> masked spans), tallied; returned in kind order for its row."""
        counts = dict(sorted((counts or {}).items()))
        self.calls += 1
        self.calls_redacted += bool(counts)
        self.totals.update(counts)
        return counts

    def metrics(self) -> dict:
        return {"enabled": self.settings.enabled, "kinds": list(self.settings.kinds), "calls": self.calls,
                "calls_with_redactions": self.calls_redacted, "redactions": sum(self.totals.values()),
                "by_kind": {k: self.totals.get(k, 0) for k in self.settings.kinds}}
