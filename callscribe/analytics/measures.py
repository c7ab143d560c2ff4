"""Conversation measures of one call from its word times and speaker labels (definitions: docs/INDEX.md).

A call is a list of units, each a word (or a segment without word times, or a reference turn) with
start, end, party and word count. A party's units closer than `pause_seconds` join into one stretch of
speech; every measure is computed from those stretches, so the same code scores the pipeline's words and
a reference RTTM's turns alike.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from callscribe.analytics.params import Analytics
from callscribe.records import Segment
from callscribe.roles import guess

AGENT, CALLER = "agent", "caller"


@dataclass
class Unit:
    start: float
    end: float
    party: str
    words: int = 1


def units(transcript: dict) -> list[Unit]:
    """Every word with its speaker (the word's, else its segment's); a segment without word times is one unit."""
    out = []
    for seg in transcript.get("segments") or []:
        who = seg.get("speaker") or "unknown"
        words = seg.get("words")
        if words:
            out += [Unit(float(w["start"]), max(float(w["end"]), float(w["start"])), w.get("speaker") or who) for w in words]
        elif (seg.get("text") or "").strip():
            out.append(Unit(float(seg["start"]), float(seg["end"]), who, len(seg["text"].split())))
    return sorted(out, key=lambda u: u.start)


def roles(transcript: dict) -> dict[str, str]:
    """Speaker label -> party. Stereo calls name their channels agent and caller, and the pipeline names a mono
    call's parties when callscribe.roles is confident; otherwise its guess is taken here all the same (the
    report counts parties, a person reads the transcript), between the two speakers who talk most. One voice
    alone is a caller (a voicemail line). Further speakers keep their label."""
    segs = [s for s in transcript.get("segments") or [] if s.get("speaker")]
    talk: dict[str, float] = {}
    for s in segs:
        talk[s["speaker"]] = talk.get(s["speaker"], 0.0) + s["end"] - s["start"]
    if AGENT in talk or CALLER in talk or not talk:
        return {s: s for s in talk}
    if len(talk) == 1:
        return {next(iter(talk)): CALLER}
    two = sorted(talk, key=lambda s: -talk[s])[:2]
    found = guess([Segment(s["start"], s["end"], s.get("text") or "", speaker=s["speaker"]) for s in segs if s["speaker"] in two])
    return {**{s: s for s in talk}, found["agent"]: AGENT, found["caller"]: CALLER}


def stretches(items: list[Unit], pause: float) -> dict[str, list[tuple[float, float, int]]]:
    """Per party: (start, end, words) of its speech, units closer than `pause` joined."""
    out: dict[str, list[list]] = {}
    for u in sorted(items, key=lambda u: u.start):
        runs = out.setdefault(u.party, [])
        if runs and u.start - runs[-1][1] < pause:
            runs[-1][1] = max(runs[-1][1], u.end)
            runs[-1][2] += u.words
        else:
            runs.append([u.start, u.end, u.words])
    return {p: [tuple(r) for r in runs] for p, runs in out.items()}


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _overtalk(by_party: dict[str, list[tuple[float, float, int]]]) -> float:
    """Seconds in which two or more parties speak at once (a sweep over every stretch's ends)."""
    events = sorted((t, d) for runs in by_party.values() for a, b, _ in runs for t, d in ((a, 1), (b, -1)))
    total, active, last = 0.0, 0, 0.0
    for t, d in events:
        if active >= 2:
            total += t - last
        active, last = active + d, t
    return total


def _monologues(by_party, gap: float, backchannel: float) -> list[tuple[float, str]]:
    """(length, party) of each run of one party's stretches with no other party speaking in between except
    backchannels, and no pause of `gap` or more."""
    order = sorted(((a, b, p) for p, runs in by_party.items() for a, b, _ in runs), key=lambda r: r[0])
    out, cur = [], None  # cur: [start, end, party]
    for a, b, p in order:
        if cur and p != cur[2] and b - a < backchannel:
            continue  # "mm-hmm" over a monologue does not end it
        if cur and p == cur[2] and a - cur[1] < gap:
            cur[1] = max(cur[1], b)
            continue
        if cur:
            out.append((cur[1] - cur[0], cur[2]))
        cur = [a, b, p]
    if cur:
        out.append((cur[1] - cur[0], cur[2]))
    return out


def measure(items: list[Unit], duration: float, p: Analytics) -> tuple[dict, dict[str, dict]]:
    """(call measures, {party: party measures}) for one call; seconds unless named otherwise."""
    by_party = stretches(items, p.pause_seconds)
    speech = _union([(a, b) for runs in by_party.values() for a, b, _ in runs])
    gaps = [start - end for (_, end), (start, _) in zip(speech, speech[1:])]  # between stretches, inside the call
    silences = [g for g in gaps if g >= p.silence_seconds]
    holds = [g for g in gaps if g >= p.hold_seconds]
    parties: dict[str, dict] = {}
    for party, runs in by_party.items():
        talk = sum(b - a for a, b, _ in runs)
        words = sum(w for _, _, w in runs)
        parties[party] = {"talk_s": talk, "words": words, "wpm": words / (talk / 60) if talk > 0 else None,
                          "interruptions": 0, "longest_monologue_s": 0.0}
    for party, runs in by_party.items():
        others = sorted((a, b) for q, r in by_party.items() if q != party for a, b, _ in r)
        starts, reach = [a for a, _ in others], list(itertools.accumulate((b for _, b in others), max))
        for a, b, _ in runs:  # someone else started before a and is still speaking at a
            k = bisect.bisect_left(starts, a)
            if b - a >= p.backchannel_seconds and k and reach[k - 1] > a + 0.05:
                parties[party]["interruptions"] += 1
    monologues = _monologues(by_party, p.silence_seconds, p.backchannel_seconds)
    for length, party in monologues:
        parties[party]["longest_monologue_s"] = max(parties[party]["longest_monologue_s"], length)
    longest = max(monologues, default=(0.0, None))
    agent_words = [u.start for u in items if u.party == AGENT]
    spoken = sum(b - a for a, b in speech)
    call = {"duration_s": duration, "speech_s": spoken, "silence_s": sum(silences), "silences": len(silences),
            "hold_s": sum(holds), "holds": len(holds), "longest_silence_s": max(gaps, default=0.0),
            "overtalk_s": _overtalk(by_party), "interruptions": sum(v["interruptions"] for v in parties.values()),
            "longest_monologue_s": longest[0], "longest_monologue_party": longest[1],
            "first_agent_word_s": min(agent_words) if agent_words else None}
    return _rounded(call), {k: _rounded(v) for k, v in parties.items()}


def _rounded(d: dict) -> dict:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in d.items()}


def of_transcript(transcript: dict, duration: float, p: Analytics) -> tuple[dict, dict[str, dict], dict[str, str]]:
    """Measures of a call's transcript with its speakers named as parties; and the label -> party map used."""
    named = roles(transcript)
    items = [Unit(u.start, u.end, named.get(u.party, u.party), u.words) for u in units(transcript)]
    call, parties = measure(items, duration or float(transcript.get("duration") or 0.0), p)
    return call, parties, named
