"""One call masked with the current settings: a pure transform of its transcript and what its record
says of it (which settings it is masked with, and the counts), writing nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from callscribe.records import Transcript
from callscribe.redact.mask import redact
from callscribe.redact.settings import RedactSettings


@dataclass
class Masked:
    transcript: Transcript  # what may be written where it is shared
    original: Transcript | None  # the unredacted text, where known
    redactions: dict | None  # kind -> masked spans, for the record (never values)
    redacted: str | None  # the settings' signature it is masked with (None: not masked)


def remask(t: Transcript, redacted: str | None, redactions: dict | None, original: Transcript | None,
           settings: RedactSettings) -> Masked:
    """`t` (raw from the decoder when `redacted` is None, else masked with the settings signed `redacted`)
    masked with `settings`, from the original when known; masking masked text can only add masks."""
    signature = settings.signature()
    if redacted == signature:
        return Masked(t, original, redactions, redacted)
    if redacted is None:  # raw: decoded now, or written with redaction off
        original = t
    if signature is None:  # redaction off: the original where known; masks made earlier stay
        if original is None:
            return Masked(t, None, redactions, redacted)
        return Masked(original, original, None, None)
    counted = Counter() if original is not None else Counter(redactions or {})  # masks already there
    r = redact(original if original is not None else t, settings)
    return Masked(r.transcript, original, dict(sorted((counted + r.counts).items())), signature)
