"""Masking a call's transcript with the redact settings: a pure transform, applied where transcripts
are written (`callscribe.folder.ShardFolder`), so that no file that is shared holds raw text.

`Masker.apply` masks segment text and words (times kept) and puts on the record what was masked
(`redactions`: kinds and counts, never values) and with which settings (`redacted`: their signature).
Given the original, it masks that; given only text masked with other settings, it masks that text,
which can only add masks: a kind taken out of `redact.kinds` comes back only from a kept original.
"""

from __future__ import annotations

import time

from callscribe.records import CallRecord, Transcript
from callscribe.redact import RedactSettings
from callscribe.redact.masker import remask


class Masker:
    def __init__(self, settings: RedactSettings):
        self.settings = settings
        self.signature = settings.signature()
        self.seconds = 0.0  # spent finding and masking (Presidio's import included)

    def apply(self, record: CallRecord, t: Transcript, original: Transcript | None = None) -> tuple[Transcript, Transcript | None]:
        """`t` (raw from the decoder, or masked with other settings) masked with the current settings,
        and the original when known. Sets the record's `redactions` and `redacted`."""
        started = time.perf_counter()
        m = remask(t, record.redacted, record.redactions, original, self.settings)
        self.seconds += time.perf_counter() - started
        record.redactions, record.redacted = m.redactions, m.redacted
        return m.transcript, m.original

    def mark(self) -> dict:
        """What a folder records of the settings everything in it is masked with."""
        s = self.settings
        return {"signature": self.signature, "enabled": s.enabled, "kinds": list(s.kinds), "mask": s.mask,
                "phone_regions": list(s.phone_regions)}
