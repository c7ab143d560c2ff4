"""Typed results. A `Transcript` serialises straight to the per-call JSON (Whisper's layout);
a `CallRecord` is one line of a journal."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

# What became of a call. Journals hold the first four; calls.jsonl adds the last two.
OK = "ok"
NO_SPEECH = "no_speech"  # no voice found
NO_WORDS = "no_words"  # voice found, and the decoder wrote nothing (also on a second try): worth a listen
ERROR = "error"
FILTERED = "filtered"  # left out by the filter params
PENDING = "pending"  # selected but not transcribed yet
TRANSCRIBED = (OK, NO_SPEECH, NO_WORDS)  # a transcript was written


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] | None = None
    speaker: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    speaker_confidence: float | None = None  # mono calls: how surely the voice is this speaker's (callscribe.diarize)

    def shifted(self, offset: float) -> "Segment":
        """The same segment with times moved by `offset` seconds (pieces of a long call)."""
        words = None
        if self.words is not None:
            words = [Word(round(w.start + offset, 3), round(w.end + offset, 3), w.word, w.probability, w.speaker) for w in self.words]
        return Segment(
            round(self.start + offset, 3), round(self.end + offset, 3), self.text, words, self.speaker,
            self.avg_logprob, self.no_speech_prob, self.compression_ratio,
        )


@dataclass
class Transcript:
    text: str
    language: str | None
    duration: float
    segments: list[Segment] = field(default_factory=list)
    speakers: dict | None = None  # talk time per speaker, when diarized
    roles: dict | None = None  # mono calls: which speaker is agent/caller, and how sure (callscribe.roles)
    turns: list | None = None  # mono calls: who spoke when, [start, end, speaker] (the RTTM; callscribe.diarize)

    def to_dict(self) -> dict:
        d = asdict(self)
        for i, seg in enumerate(d["segments"]):
            seg["id"] = i
            if seg["words"] is None:
                del seg["words"]
            for key in ("speaker", "avg_logprob", "no_speech_prob", "compression_ratio", "speaker_confidence"):
                if seg[key] is None:
                    del seg[key]
            for w in seg.get("words") or []:
                if w["speaker"] is None:
                    del w["speaker"]
        for key in ("speakers", "roles", "turns"):
            if d[key] is None:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Transcript":
        segs = []
        for s in d.get("segments", []):
            words = None
            if "words" in s:
                words = [Word(**{k: w.get(k) for k in ("start", "end", "word", "probability", "speaker")}) for w in s["words"]]
            segs.append(Segment(s["start"], s["end"], s["text"], words, s.get("speaker"),
                                s.get("avg_logprob"), s.get("no_speech_prob"), s.get("compression_ratio"), s.get("speaker_confidence")))
        return cls(d.get("text", ""), d.get("language"), d.get("duration", 0.0), segs, d.get("speakers"), d.get("roles"), d.get("turns"))


@dataclass
class CallRecord:
    """One journal line: what was done to one call, with what, and how long it took."""

    id: str
    path: str
    sha256: str
    engine: str
    model: str
    versions: dict = field(default_factory=dict)  # package versions and model checksum
    settings_hash: str = ""
    status: str = OK
    reason: str | None = None
    audio_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    model_seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the worker on this call: other load on the machine hardly moves it (metrics.json speed)
    restored: bool | None = None  # True: taken from the store (made before with these settings), not decoded
    json: str | None = None  # the transcript's file name in the same folder, when one was written
    finished: str | None = None  # local time the record was written
    node: str | None = None  # the machine that ran it, on a Ray cluster (`transcribe.cluster`)
    redactions: dict | None = None  # personal data masked in the transcript, per kind: counts, never values
    redacted: str | None = None  # the redact settings' signature the transcript is masked with (callscribe.privacy)

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("json", "node", "restored", "redactions", "redacted"):
            if d[key] is None:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CallRecord":
        """A journal line back; keys this version does not know (a newer one's) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
