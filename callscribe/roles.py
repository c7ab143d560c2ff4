"""Agent and caller on a mono call, from what each party says.

Inbound or outbound, the agent is the one who greets for the company ("thank you for calling",
"this is Anna from ..."), says where they are calling from, offers help ("how can I help", "anything
else"), and asks for the name, date of birth or policy number; the caller says what they need ("I'm
looking for", "I'd like to", "can you help me") and gives their details. Each phrase found adds its
weight to its role; the difference between the two speakers, through a logistic, is the confidence
that the one with more agent's phrases is the agent. Below `MIN_CONFIDENCE` the `SPEAKER_nn` labels
stay. Who speaks first is no evidence: in the SpokenWOZ calls the caller's "hello" often comes first.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from callscribe.records import Segment

_DETAIL = (r"(full )?name|date of birth|birth ?date|d\.?o\.?b|policy( number)?|account( number)?|reference( number)?"
           r"|post ?code|zip( code)?|address|phone number|email")
AGENT = [  # (phrase, weight)
    (r"thanks? (you )?(so much )?for (calling|contacting|holding|waiting|your patience)", 2.0),
    (r"how (can|may|could|might) i (help|assist|direct)", 2.0),
    (r"what can i (do|help) (for )?you", 2.0),
    (r"welcome to", 1.5),
    (r"(this is|my name is|i'm|i am|it's) \w+( \w+)? (from|at|with|of) (the )?\w+", 1.5),
    (r"(i'm|i am|we're|we are|i was) (calling|ringing|reaching out) (you )?(from|on behalf)", 3.0),
    (r"calling (you )?(from|on behalf of)", 2.0),
    (r"(customer|client) (service|support|care)( center| centre| team| department)?", 1.0),
    (r"(is there )?anything else (i|we) can (help|assist|do)", 2.0),
    (rf"(can|could|may) i (have|get|take|confirm|ask for) your ({_DETAIL})", 2.0),
    (rf"what('s| is) your ({_DETAIL})", 2.0),
    (rf"(confirm|verify|spell) (your|the) ({_DETAIL})", 1.5),
    (r"(one moment|bear with me|let me (check|see|look|find)|i('ll| will) (check|look|transfer|put you))", 1.0),
    (r"(i|we) (found|have found|can book|have booked|booked|reserved)", 1.0),
    (r"have a (nice|great|lovely|good|wonderful) (day|evening|afternoon|weekend)", 0.5),
]
CALLER = [
    (r"(i'm|i am) (calling|ringing) (about|because|regarding|to (ask|check|see|find))", 2.0),
    (r"(i'm|i am) looking for", 1.5),
    (r"i('d| would) like (to|a|an|some)", 1.0),
    (r"i (need|want) (to|a|an|some|your)", 1.0),
    (r"(can|could) you (please )?(help|tell|give|check|book|find) me", 1.5),
    (r"i need (your |some )?(help|assistance)", 2.0),
    (r"my (full )?(name|date of birth|birthday|policy number|account number|address|phone number|email)( is|'s)", 1.5),
    (r"(i was )?born (on|in) ", 1.5),
]
_AGENT = [(re.compile(p, re.IGNORECASE), w) for p, w in AGENT]
_CALLER = [(re.compile(p, re.IGNORECASE), w) for p, w in CALLER]
SCALE = 2.0  # evidence points per unit of log-odds: a difference of 2 points (one clear phrase) is 73 %
MIN_CONFIDENCE = 0.8  # tuned on the tuning halves (bench/diarization.py): below it the labels stay generic


def agent_score(text: str) -> float:
    """Agent's phrases minus caller's phrases in one party's words, by weight."""
    return sum(w * len(p.findall(text)) for p, w in _AGENT) - sum(w * len(p.findall(text)) for p, w in _CALLER)


def guess(segments: list[Segment]) -> dict | None:
    """{"agent": label, "caller": label, "confidence": p} for a call with two speakers; None otherwise."""
    speakers = list(dict.fromkeys(s.speaker for s in segments if s.speaker))
    if len(speakers) != 2:
        return None
    score = {sp: agent_score(" ".join(s.text for s in segments if s.speaker == sp)) for sp in speakers}
    agent, caller = sorted(speakers, key=score.get, reverse=True)
    confidence = 1 / (1 + math.exp(-(score[agent] - score[caller]) / SCALE))
    return {"agent": agent, "caller": caller, "confidence": round(confidence, 3)}


def both_parties(segments: list[Segment]) -> bool:
    """True when a two-speaker labelling of a call reads as an agent and a caller: confidently (`guess`),
    and each speaker says phrases of their own role. A one-voice message can read agent-like all
    through, but not as a caller answering it."""
    found = guess(segments)
    if found is None or found["confidence"] < MIN_CONFIDENCE:
        return False
    text = {sp: " ".join(s.text for s in segments if s.speaker == sp) for sp in (found["agent"], found["caller"])}
    return agent_score(text[found["agent"]]) > 0 > agent_score(text[found["caller"]])


def name_parties(segments: list[Segment], names: list[str]) -> tuple[list[Segment], dict | None]:
    """Name a two-speaker mono call's parties `names` (agent, caller) when `guess` is confident enough.
    Returns the segments and the guess, with the labels the transcript now carries."""
    found = guess(segments)
    if found is None or len(names) < 2 or found["confidence"] < MIN_CONFIDENCE:
        return segments, found
    new = {found["agent"]: names[0], found["caller"]: names[1]}
    named = [replace(s, speaker=new.get(s.speaker, s.speaker),
                     words=[replace(w, speaker=new.get(w.speaker, w.speaker)) for w in s.words] if s.words is not None else None)
             for s in segments]
    return named, {"agent": names[0], "caller": names[1], "confidence": found["confidence"]}
