"""WER and CER against reference transcripts, with Whisper's English text normaliser and jiwer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jiwer
from pydantic import BaseModel
from whisper_normalizer.english import EnglishTextNormalizer

from callscribe import speaker_metrics
from callscribe.confidence import low_share
from callscribe.records import FILTERED, TRANSCRIBED

if TYPE_CHECKING:
    from pyannote.core import Annotation

_normalizer = EnglishTextNormalizer()


def normalize(text: str) -> str:
    return " ".join(_normalizer(text or "").split())


def score(pairs: list[tuple[str, str, str]]) -> tuple[dict, list[dict]]:
    """pairs: (id, reference, hypothesis). Returns corpus-level metrics and per-file details.

    Corpus WER counts every word of every file once (not a mean of per-file rates)."""
    refs, hyps, details = [], [], []
    for key, ref, hyp in pairs:
        r, h = normalize(ref), normalize(hyp)
        if not r:  # files expected to be silent: any words are insertions
            details.append({"id": key, "reference": ref, "hypothesis": hyp, "ref_words": 0, "inserted_words": len(h.split())})
            continue
        out = jiwer.process_words(r, h)
        details.append({
            "id": key, "wer": round(out.wer, 4), "cer": round(jiwer.cer(r, h), 4), "ref_words": len(r.split()),
            "substitutions": out.substitutions, "deletions": out.deletions, "insertions": out.insertions,
            "reference": ref, "hypothesis": hyp,
        })
        refs.append(r)
        hyps.append(h)
    metrics = {"files": len(details), "scored_files": len(refs)}
    if refs:
        words = jiwer.process_words(refs, hyps)
        metrics.update(
            wer=round(words.wer, 4), cer=round(jiwer.cer(refs, hyps), 4), ref_words=sum(len(r.split()) for r in refs),
            substitutions=words.substitutions, deletions=words.deletions, insertions=words.insertions,
        )
    metrics["silent_files_with_words"] = sum(1 for d in details if d.get("inserted_words"))
    return metrics, details


def load_turns(path) -> "Annotation":
    """The speaker turns of an RTTM file holding one recording."""
    from pyannote.core import Annotation
    from pyannote.database.util import load_rttm

    found = load_rttm(str(path))
    if len(found) > 1:
        raise ValueError(f"{path} holds {len(found)} recordings; give one RTTM file per call")
    return next(iter(found.values()), Annotation())


def diarization_error(reference, hypothesis, uem: tuple[float, float] | None = None) -> dict:
    """DER and its parts (seconds) with pyannote.metrics: no collar, overlap scored."""
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate()
    detail = metric(reference, hypothesis, uem=Timeline([Segment(*uem)]) if uem else None, detailed=True)
    return {
        "der": round(float(detail["diarization error rate"]), 4),
        "speech_s": round(float(detail["total"]), 3),
        "missed_s": round(float(detail["missed detection"]), 3),
        "false_alarm_s": round(float(detail["false alarm"]), 3),
        "confusion_s": round(float(detail["confusion"]), 3),
        "speakers": len(hypothesis.labels()),
        "ref_speakers": len(reference.labels()),
    }


def channel_wer(channel_texts: dict[str, str], segments: list[dict], channel_names: list[str]) -> float:
    """WER of each stereo channel's text (segments labelled with its name) against its own
    reference, all channels counted together: words given to the wrong party count as errors."""
    refs, hyps = [], []
    for name, ref in zip(channel_names, channel_texts.values()):
        refs.append(normalize(ref))
        hyps.append(normalize(" ".join(s["text"] for s in segments if s.get("speaker") == name)))
    return round(jiwer.wer(refs, hyps), 4)


@dataclass
class Paired:
    """The labelled calls matched with what the pipeline made of them."""

    texts: list[tuple[str, str, str]] = field(default_factory=list)  # (id, reference, hypothesis), for `score`
    der: dict[str, dict] = field(default_factory=dict)  # id -> `diarization_error`, calls with reference turns
    stereo: dict[str, float] = field(default_factory=dict)  # id -> `channel_wer`, stereo calls with per-channel texts
    missing: list[str] = field(default_factory=list)  # labelled files with no transcript
    filtered: int = 0  # labelled files left out on purpose (filter params)


def pair(labels: list[dict], calls: list[dict], labels_dir: Path, transcripts: Path, channel_names: list[str]) -> Paired:
    """Each label (samples/labels.jsonl) with its row of calls.jsonl and its files under `transcripts`."""
    by_name = {(r["archive"], r["name"]): r for r in calls}
    out = Paired()
    for lab in labels:
        call = by_name.get((lab["archive"], lab["file"]))
        if call is not None and call["status"] == FILTERED:
            out.filtered += 1
            continue
        if call is None or call["status"] not in TRANSCRIBED:
            out.missing.append(lab["file"])
            continue
        out.texts.append((call["id"], lab["text"], call["text"] or ""))
        stem = Path(transcripts) / call["id"]
        if lab.get("rttm") and Path(f"{stem}.rttm").exists():
            reference = load_turns(Path(labels_dir) / lab["rttm"])
            out.der[call["id"]] = diarization_error(reference, load_turns(f"{stem}.rttm"), uem=(0.0, call["duration"]))
            if Path(f"{stem}.json").exists():  # WDER and mid-sentence changes beside DER
                out.der[call["id"]].update(speaker_metrics.word_figures(reference, f"{stem}.json"))
        if lab.get("channel_texts") and Path(f"{stem}.json").exists():
            segments = json.loads(Path(f"{stem}.json").read_text(encoding="utf-8"))["segments"]
            out.stereo[call["id"]] = channel_wer(lab["channel_texts"], segments, channel_names)
    return out


def summary(wer: dict, der: dict, calls: list[dict], transcribe: dict, own: dict | None = None) -> dict:
    """The figures that matter, in one small file that `dvc metrics show` and `dvc exp show` print
    first and that fit side by side at 80 columns; the detail stays in the other metrics files
    (CER and the 95 % interval of `own` in metrics/wer.json).

    own: the archive-wide WER estimated from the owner's labels (callscribe.scoring); low: the share
    of transcribed audio in calls of low confidence (callscribe.confidence)."""
    done = [c for c in calls if c["status"] in (*TRANSCRIBED, "error")]
    own_wer = (own or {}).get("wer")
    low = low_share(calls)
    return {
        "wer": wer.get("wer"),
        "der": der.get("der"),
        "own": None if own_wer is None else round(own_wer, 3),
        "low": None if low is None else round(low, 3),
        "hours": round(sum(c.get("duration") or 0.0 for c in done) / 3600, 3),
        "calls": len(done),
        "errors": sum(1 for c in done if c["status"] == "error"),
        "speed": transcribe.get("speed_x_realtime_per_cpu"),  # audio seconds per worker CPU-second
    }


class EvaluateParams(BaseModel):
    """`evaluate:` in params.yaml."""

    labels: str = "samples/labels.jsonl"  # reference transcripts, one JSON line per labelled call
