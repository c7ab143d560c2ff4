"""`redact:` in params.yaml: its schema (`RedactParams`, whose defaults are params.yaml's) and the settings
a run masks with (`RedactSettings`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

KINDS = ("card", "ssn", "dob", "policy", "phone", "email", "address")
ENTITY = {"card": "CARD", "ssn": "SSN", "dob": "DOB", "policy": "POLICY", "phone": "PHONE", "email": "EMAIL", "address": "ADDRESS"}
KIND_OF = {v: k for k, v in ENTITY.items()}
RULES = 2  # bump when the recognizers change: transcripts already written are then redacted again (callscribe.privacy)
LABELS = frozenset(f"[{e}]" for e in ENTITY.values())
Kind = Literal[KINDS]


class RedactParams(BaseModel):
    """`redact:` in params.yaml."""

    enabled: bool = True
    kinds: Annotated[Literal["all"] | list[Kind], Field(description=f"all, or a list of some of {', '.join(KINDS)}")] = "all"
    mask: Annotated[str, Field(pattern=r"^(label|\S)$", description="label, or one character such as '#'")] = "label"
    keep_unredacted: bool = False  # true: the originals also go to data/private/<shard>/ (never pushed)
    audio: bool = False  # true: a copy of each call with the masked spans bleeped
    phone_regions: Annotated[list[str], Field(description="a list of region codes such as US, GB")] = ["US", "GB", "CA"]
    audio_mode: Literal["bleep", "silence"] = "bleep"

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, regions: list[str]) -> list[str]:
        import phonenumbers

        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"region codes libphonenumber knows (not {', '.join(unknown)})")
        return regions


DEFAULTS = RedactParams()


@dataclass(frozen=True)
class RedactSettings:
    """`redact:` in params.yaml; `--redact[=kinds]` on the command line."""

    enabled: bool = False  # off unless asked (`--redact`); params.yaml turns it on
    kinds: tuple[str, ...] = KINDS
    mask: str = DEFAULTS.mask  # "label": [CARD]; or one character repeated over each word, e.g. "#"
    keep_unredacted: bool = DEFAULTS.keep_unredacted  # the original, kept apart from what is pushed
    audio: bool = DEFAULTS.audio  # a copy of each call with the redacted spans bleeped
    audio_mode: str = DEFAULTS.audio_mode
    phone_regions: tuple[str, ...] = tuple(DEFAULTS.phone_regions)

    @classmethod
    def from_params(cls, p: dict | None) -> "RedactSettings":
        """From params.yaml's section or the CLI's options (`kinds` may be "card,ssn"); ParamsError names a wrong one."""
        from callscribe.params import check_section  # its one-line errors (params imports this module by name only)

        p = {k: v for k, v in (p or {}).items() if v is not None}  # None: an option not given
        if isinstance(p.get("kinds"), str):
            p["kinds"] = "all" if p["kinds"] == "all" else [k.strip() for k in p["kinds"].split(",") if k.strip()]
        if p.get("kinds") == ["all"]:
            p["kinds"] = "all"
        r = check_section("redact", RedactParams, p)
        given = r.model_dump(include=set(p))  # what is left out keeps this type's defaults (enabled: off)
        given["kinds"] = KINDS if r.kinds == "all" else tuple(r.kinds)
        given["phone_regions"] = tuple(r.phone_regions)
        return cls(**given)

    def signature(self) -> str | None:
        """What masked text depends on, as a short hash (None: redaction off). Transcripts carry it, so
        that a change of these settings is re-applied to what was written before (callscribe.privacy)."""
        if not self.enabled:
            return None
        blob = json.dumps({"kinds": sorted(self.kinds), "mask": self.mask, "phone_regions": list(self.phone_regions), "rules": RULES})
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def is_mask(self, word: str) -> bool:
        """A word that redaction wrote: [CARD], ..., or the mask character repeated."""
        w = word.strip()
        return w in LABELS or (self.mask != "label" and bool(w) and set(w) == {self.mask})
