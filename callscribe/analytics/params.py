"""The `analytics:` section of params.yaml: its schema (registered in callscribe.params.SECTIONS), with
params.yaml's values as its defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Tracker(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phrases: list[str] = Field(min_length=1)
    party: Literal["agent", "caller", "any"] = "any"  # who must say it
    within_seconds: float = Field(0, ge=0)  # only in the call's first N seconds; 0 = anywhere

    @field_validator("phrases")
    @classmethod
    def _not_blank(cls, phrases: list[str]) -> list[str]:
        if any(not p.strip() for p in phrases):
            raise ValueError("a phrase is empty")
        return phrases


class Reasons(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clusters: int = Field(8, ge=2, le=100)  # topics the caller-side text is split into
    min_words: int = Field(15, ge=1)  # calls with fewer caller words get no reason
    names: str = "analytics/reasons.yaml"  # the owner's names for the clusters; merges are two numbers with one name
    seed: int = 0  # change it to fit the clusters again (after a large import)


def _tracker(party: str, within: float, *phrases: str) -> "Tracker":
    return Tracker(phrases=list(phrases), party=party, within_seconds=within)


# params.yaml's trackers, as the schema's default (callscribe.params: a section's defaults are its values there).
TRACKERS = {
    "disclosure": _tracker("agent", 60, "this call may be recorded", "this call is recorded", "recorded for quality and training"),
    "cancel": _tracker("caller", 0, "cancel my policy", "i want to cancel", "cancellation"),
    "claim": _tracker("any", 0, "file a claim", "claim number", "make a claim"),
    "complaint": _tracker("caller", 0, "make a complaint", "speak to a supervisor", "speak to your manager"),
    "hold": _tracker("agent", 0, "please hold", "can you hold", "put you on hold"),
}


class Analytics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pause_seconds: float = Field(0.5, ge=0)  # one party's words closer than this are one stretch of speech
    silence_seconds: float = Field(2.0, gt=0)  # a gap with nobody speaking this long or longer counts as silence
    hold_seconds: float = Field(15.0, gt=0)  # ... and this long or longer as hold
    backchannel_seconds: float = Field(1.0, ge=0)  # a start over the other party shorter than this is a backchannel, not an interruption
    match_score: float = Field(85, ge=50, le=100)  # rapidfuzz ratio (0-100) a tracker phrase needs
    trackers: dict[str, Tracker] = TRACKERS
    reasons: Reasons = Reasons()

    @field_validator("trackers", mode="before")
    @classmethod
    def _phrase_lists(cls, value):
        """`name: [phrase, ...]` is short for `name: {phrases: [...]}`."""
        if isinstance(value, dict):
            return {k: {"phrases": v} if isinstance(v, list) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _order(self):
        if self.hold_seconds < self.silence_seconds:
            raise ValueError("hold_seconds is shorter than silence_seconds; hold is the longest kind of silence")
        return self


def parse(section: dict | None) -> Analytics:
    """The checked section (callscribe.params' checker: a refused value is a ParamsError naming it)."""
    from callscribe.params import check_section

    return check_section("analytics", Analytics, section or {})
