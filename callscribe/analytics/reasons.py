"""Call reasons without labels: TF-IDF over each call's caller-side words, NMF topics, one topic per call.

The fitted model is kept (joblib), so a new shard's calls are placed in the same topics and the owner's
names (analytics/reasons.yaml: `topic number: name`, one name on two numbers merges them) stay valid.
It is fitted again only when the `analytics.reasons` settings change or the model file is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Words of any phone call, whatever it is about: they would make every topic alike.
FILLER = """um uh uhm mm mmhmm hmm yeah yes yep no okay ok oh ah hi hello hey bye goodbye thank thanks please sure right
well just like know got get gonna want wanna need yeah alright great good fine perfect lovely nice day today really actually
sorry excuse let going think mean say said tell told call calling called help can could would will shall may might must""".split()
MASK = re.compile(r"\[[A-Z_]+\]")  # redaction labels ([CARD], [PHONE]) say nothing about the reason


@dataclass
class Model:
    vectorizer: object
    nmf: object
    key: str  # the settings it was fitted with
    fitted_on: int  # calls
    phrases: list[list[str]] = field(default_factory=list)  # key phrases per topic


def caller_text(transcript: dict, parties: dict[str, str]) -> str:
    """What the caller said; the whole call when no speaker is the caller (one voice, no labels)."""
    segs = transcript.get("segments") or []
    said = [s.get("text") or "" for s in segs if parties.get(s.get("speaker")) == "caller"]
    if not said and not any(v == "caller" for v in parties.values()):
        said = [s.get("text") or "" for s in segs]
    return MASK.sub(" ", " ".join(said)).strip()


def fit(texts: list[str], topics: int, seed: int, key: str) -> Model | None:
    """Topics of these texts; None when they are too few or too alike to split."""
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    if len(texts) < 2:
        return None
    vectorizer = TfidfVectorizer(stop_words=sorted(ENGLISH_STOP_WORDS | set(FILLER)), ngram_range=(1, 2),
                                 min_df=2 if len(texts) >= 50 else 1, max_df=0.5 if len(texts) >= 50 else 1.0,
                                 sublinear_tf=True, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z']+\b", max_features=50_000)
    try:
        x = vectorizer.fit_transform(texts)
    except ValueError:  # no word left after the stop words
        return None
    k = max(1, min(topics, x.shape[0], x.shape[1]))
    nmf = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=400)
    nmf.fit(x)
    model = Model(vectorizer, nmf, key, len(texts))
    model.phrases = key_phrases(model)
    return model


def assign(model: Model, texts: list[str]) -> list[tuple[int | None, float]]:
    """(topic, weight) per text; (None, 0) for a text with none of the model's words."""
    w = model.nmf.transform(model.vectorizer.transform(texts))
    return [(int(row.argmax()), float(row.max())) if row.max() > 0 else (None, 0.0) for row in w]


def key_phrases(model: Model, n: int = 5) -> list[list[str]]:
    """Each topic's heaviest terms, a two-word phrase standing in for the single words it holds."""
    terms = model.vectorizer.get_feature_names_out()
    out = []
    for row in model.nmf.components_:
        top = [terms[i] for i in row.argsort()[::-1][:4 * n] if row[i] > 0]
        pairs = [t for t in top if " " in t]
        kept = [t for t in top if " " in t or not any(t in p.split() for p in pairs)]
        out.append(kept[:n])
    return out


def save(model: Model | None, path: Path) -> None:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp)
    tmp.replace(path)


def load(path: Path, key: str) -> Model | None:
    """The kept model when it was fitted with these settings."""
    import joblib

    if not path.is_file():
        return None
    try:
        model = joblib.load(path)
    except Exception:  # noqa: BLE001 - an unreadable model is fitted again
        return None
    return model if getattr(model, "key", None) == key else None


def names(path: str | Path) -> dict[int, str]:
    """The owner's names: {topic number: name}; a missing file names nothing. A bad file stops the stage."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not all(isinstance(k, int) and isinstance(v, str) and v.strip() for k, v in data.items()):
        raise ValueError(f"{path}: write one `topic number: name` per line, e.g. `3: claims` (two numbers with one name merge)")
    return {k: v.strip() for k, v in data.items()}


def label(topic: int | None, named: dict[int, str], phrases: list[list[str]]) -> str:
    """A topic's name for reports: the owner's, else its key phrases."""
    if topic is None:
        return "(no reason)"
    if topic in named:
        return named[topic]
    words = phrases[topic] if topic < len(phrases) else []
    return f"topic {topic}: " + ", ".join(words[:3]) if words else f"topic {topic}"
