"""Which windows of a call are which voice: clustering of embeddings into speakers, then resegmentation.

Windows (CAM++ or d-vector embeddings, `callscribe.diarize`) are clustered with scikit-learn's spectral
clustering in the call's own principal directions, with `speakers: auto` deciding one voice or more
(`Tuning`: for d-vectors by how coherent a two-way split is, for CAM++ by how alike its two halves
are, with the words' text as a second opinion, `callscribe.speaker_words.labelled_turns`); then a
Viterbi pass over the windows in time order scores each against the speaker centroids and charges
a penalty for changing speaker (less across a pause). The constants depend on each other and on the
encoder; bench/diarization.py measures them on the splits of bench/speaker_splits.json.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOP_PERCENT = 30  # affinity refinement: each window keeps its closest 30 % of neighbours
MAX_CLUSTERED = 1500  # windows (10 min of speech) clustered directly; 1500^2 affinities are ~18 MB
SMOOTH = 2  # windows (0.4 s apart) either side averaged when re-scoring against speaker centroids
# Windows are clustered in the call's own 16 principal directions: what varies within one call is
# mostly who speaks, the rest is noise of 0.8 s d-vectors (12, 16 or 24 gave the same DER).
PCA_DIMS = 16
# `speakers: auto` on a call: two voices whose mean d-vectors (3-window averages) are this alike are
# one. The most alike pair of two real speakers came to 0.931, one speaker split in two to 0.847-0.955.
ONE_SPEAKER_COS = 0.94
# ... and a voice heard in fewer windows than this (4 s) is not told apart from the others: the
# mean of a few 0.8 s d-vectors is too noisy (one voice's 8-11 s calls split into 0.76-0.95 alike).
MIN_SPEAKER_WINDOWS = 10
# A third voice or more must be heard twice as long (8 s): the eigengap found a third "speaker" of
# 5 s in one dialogue, one party's own backchannels.
EXTRA_SPEAKER_WINDOWS = 20
# One voice or more: split the call in two and count how often two neighbouring windows of one
# stretch of speech fall on the same side. Two people take turns of seconds, so a split between
# them is coherent (0.77-1.00 on two-party calls); a split of one voice follows what is being said
# and flickers (0.59-0.72 on voicemails and one-voice samples; a 3 s voice that splits cleanly is
# left to MIN_SPEAKER_WINDOWS). The margin is narrow.
COHERENT = 0.75
CONFIDENCE_SCALE = 20.0  # turns a score margin into a probability: softmax(scores * scale)
# Resegmentation (Viterbi): scores are cosines to the centroids times RESEG_SCALE; changing speaker
# between two windows of one stretch of speech costs SWITCH, across a pause GAP_SWITCH.
RESEG_SCALE, SWITCH, GAP_SWITCH, RESEG_ROUNDS = 20.0, 20.0, 4.0, 2


@dataclass(frozen=True)
class Tuning:
    """What `speakers: auto` decides one voice or more by; it depends on the encoder (the constants
    above are the d-vector's)."""
    one_speaker_cos: float = ONE_SPEAKER_COS
    min_speaker_windows: int = MIN_SPEAKER_WINDOWS
    extra_speaker_windows: int = EXTRA_SPEAKER_WINDOWS
    coherent: float = COHERENT
    # One voice when the two halves of the two-way split have mean embeddings this alike (None: unused).
    split_cos: float | None = None
    # When `auto` finds one voice, keep the two-way split as a second opinion for the words' text
    # (`callscribe.speaker_words.labelled_turns`: two when they read as an agent and a caller).
    ask_roles: bool = False


DVECTOR = Tuning()
# CAM++ 1.5 s windows every 1.0 s (callscribe.diarize.SegmentationDiarizer), from the tuning halves: the
# two halves of a two-party call came to 0.66-0.83 alike, of a one-voice call to 0.87-0.92 (hence 0.85).
# The coherence test is off: CAM++'s split of one voice did not flicker (1.00 on a voicemail). Five
# windows (5 s) or more make a voice; a third needs ten. Alone it did not hold: on the check half two
# real calls' halves came to 0.86 and 0.88 and became one speaker, hence the text's second opinion.
CAMPPLUS = Tuning(one_speaker_cos=0.88, min_speaker_windows=5, extra_speaker_windows=10, coherent=0.0, split_cos=0.85,
                  ask_roles=True)


def cluster(emb: np.ndarray, speakers: int | str, region_of: np.ndarray, max_speakers: int = 8,
            tuning: Tuning = DVECTOR) -> np.ndarray:
    """Speaker index per window, numbered by first appearance (SPEAKER_00 talks first)."""
    n = len(emb)
    if n < 3 or (speakers != "auto" and int(speakers) <= 1):
        return np.zeros(n, int)
    e, sub, affinity = _graph(emb)
    if speakers == "auto":
        two = _spectral(e, sub, affinity, 2)
        if coherence(two, region_of) < tuning.coherent or (tuning.split_cos is not None and _alike(emb, two) >= tuning.split_cos):
            return np.zeros(n, int)
        k = estimate_speakers(affinity, max_speakers)
        picked = two if k == 2 else _spectral(e, sub, affinity, k)
    else:
        picked = _spectral(e, sub, affinity, min(int(speakers), len(sub)))
    labels = smooth(e, picked, region_of)
    if speakers == "auto":
        labels = merge_alike(emb, labels, region_of, tuning)
    return first_appearance(labels)


def _alike(emb: np.ndarray, labels: np.ndarray) -> float:
    """Cosine of the mean embeddings of labels 0 and 1."""
    c = np.stack([emb[labels == k].mean(0) for k in (0, 1)])
    c /= np.linalg.norm(c, axis=1, keepdims=True) + 1e-12
    return float(c[0] @ c[1])


def two_way_split(emb: np.ndarray) -> np.ndarray:
    """The two-way split `cluster` judges one voice or two by, before any smoothing."""
    return _spectral(*_graph(emb), 2)


def _graph(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The windows in the call's principal directions, centred (what every window shares, the line and
    the codec, removed), the windows clustered directly, and their refined affinities. The affinity
    matrix grows with the square of the call's length: a long call is clustered on evenly spread windows."""
    n = len(emb)
    e = principal(emb)
    e = e - e.mean(0)
    e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-12
    sub = np.linspace(0, n - 1, MAX_CLUSTERED).round().astype(int) if n > MAX_CLUSTERED else np.arange(n)
    return e, sub, refine((e[sub] @ e[sub].T + 1) / 2)


def _spectral(e: np.ndarray, sub: np.ndarray, affinity: np.ndarray, k: int) -> np.ndarray:
    from sklearn.cluster import SpectralClustering

    picked = SpectralClustering(k, affinity="precomputed", random_state=0, assign_labels="cluster_qr").fit_predict(affinity)
    if len(sub) < len(e):  # every window to the nearest centroid of the clustered sample
        present, centroids = _centroids(e[sub], picked)
        picked = present[(e @ centroids.T).argmax(1)]
    return picked


def first_appearance(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0, 1, ... in the order they first appear."""
    order = {lab: i for i, lab in enumerate(dict.fromkeys(labels.tolist()))}
    return np.array([order[lab] for lab in labels.tolist()], int)


def scores(emb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(windows, speakers): each window's cosine to each speaker's centroid (speakers 0, 1, ...), on
    the centred d-vectors the resegmentation scores."""
    e = _centred(emb)
    _, centroids = _centroids(e, labels)
    return e @ (centroids / (np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12)).T


def _centred(emb: np.ndarray) -> np.ndarray:
    e = emb - emb.mean(0)
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)


def principal(emb: np.ndarray, dims: int = PCA_DIMS) -> np.ndarray:
    """The windows' d-vectors, centred, in the call's `dims` principal directions, unit length."""
    e = emb - emb.mean(0)
    _, _, directions = np.linalg.svd(e, full_matrices=False)
    e = e @ directions[:dims].T
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)


def coherence(labels: np.ndarray, region_of: np.ndarray) -> float:
    """The share of neighbouring windows in one stretch of speech that carry the same label (1.0
    when no stretch has two windows: nothing says the split flickers)."""
    pairs = region_of[1:] == region_of[:-1]
    return float(np.mean(labels[1:][pairs] == labels[:-1][pairs])) if pairs.any() else 1.0


def resegment(emb: np.ndarray, labels: np.ndarray, region_of: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Viterbi over the windows in time order: each window scored against the speaker centroids,
    a penalty for each change of speaker (smaller across a pause, where turns change); the
    centroids are re-estimated from the result and the pass repeated. A noisy 0.8 s window no
    longer makes a turn of its own, and turn edges move to where the voices change."""
    present = np.unique(labels)
    if len(present) < 2:
        return labels
    e = _centred(emb)
    order = np.argsort(centres, kind="stable")
    same_region = np.r_[False, region_of[order][1:] == region_of[order][:-1]]
    for _ in range(RESEG_ROUNDS):
        present, centroids = _centroids(e, labels)
        if len(present) < 2:
            break
        score = (e @ (centroids / np.linalg.norm(centroids, axis=1, keepdims=True)).T)[order] * RESEG_SCALE
        path = viterbi(score, np.where(same_region, SWITCH, GAP_SWITCH))
        labels = np.empty(len(order), int)
        labels[order] = present[path]
    return first_appearance(labels)


def viterbi(score: np.ndarray, switch: np.ndarray) -> np.ndarray:
    """The best state per step for (steps, states) scores, a change of state before step t costing
    switch[t]."""
    k = score.shape[1]
    stay = 1 - np.eye(k)
    back = np.zeros(score.shape, int)
    best = score[0].copy()
    for t in range(1, len(score)):
        moves = best[:, None] - switch[t] * stay  # from row to column
        back[t] = moves.argmax(0)
        best = moves.max(0) + score[t]
    path = np.empty(len(score), int)
    path[-1] = best.argmax()
    for t in range(len(score) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def refine(affinity: np.ndarray) -> np.ndarray:
    """Keep each row's strongest links, symmetrise, diffuse (Wang et al., 2018, d-vector spectral clustering)."""
    a = affinity.copy()
    np.fill_diagonal(a, 0)
    np.fill_diagonal(a, a.max(1))
    a = np.where(a >= np.percentile(a, 100 - TOP_PERCENT, axis=1, keepdims=True), a, 0.01 * a)
    a = np.maximum(a, a.T)
    a = a @ a.T
    a = a / np.maximum(a.max(1, keepdims=True), 1e-12)  # a window unlike any other has an all-zero row
    return (a + a.T) / 2


def estimate_speakers(affinity: np.ndarray, max_speakers: int) -> int:
    """Largest eigengap of the normalised graph Laplacian, from two speakers up. Whether two are
    one is decided after clustering (`merge_alike`): the eigengap alone often found one speaker in
    two-party calls (docs/PERFORMANCE.md)."""
    from scipy.sparse.csgraph import laplacian

    vals = np.sort(np.linalg.eigvalsh(laplacian(affinity, normed=True)))[: max_speakers + 1]
    return int(np.argmax(np.diff(vals[1:]))) + 2 if len(vals) > 2 else 1


def _averaged(emb: np.ndarray, region_of: np.ndarray) -> np.ndarray:
    """Each window's d-vector averaged with its neighbours in the same region, unit length."""
    out = np.empty_like(emb)
    for r in np.unique(region_of):
        idx = np.flatnonzero(region_of == r)
        for j, i in enumerate(idx):
            out[i] = emb[idx[max(0, j - 1) : j + 2]].mean(0)
    return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-12)


def merge_alike(emb: np.ndarray, labels: np.ndarray, region_of: np.ndarray, tuning: Tuning = DVECTOR) -> np.ndarray:
    """Merge the two most alike speakers while their mean voices are too alike to be two people
    (cosine >= ONE_SPEAKER_COS) or one of them is heard too little to tell (MIN_SPEAKER_WINDOWS):
    a one-voice call ends as one speaker."""
    avg = _averaged(emb, region_of)
    labels = labels.copy()
    while len(present := np.unique(labels)) > 1:
        c = np.stack([avg[labels == k].mean(0) for k in present])
        c /= np.linalg.norm(c, axis=1, keepdims=True) + 1e-12
        sim = c @ c.T
        np.fill_diagonal(sim, -1)
        counts = np.array([(labels == k).sum() for k in present])
        fewest = tuning.min_speaker_windows if len(present) == 2 else tuning.extra_speaker_windows
        if counts.min() < fewest:  # the least heard goes to its nearest
            j = int(np.argmin(counts))
            i = int(np.argmax(sim[j]))
        else:
            i, j = np.unravel_index(np.argmax(sim), sim.shape)
            if sim[i, j] < tuning.one_speaker_cos:
                break
        labels[labels == present[j]] = present[i]
    return labels


def window_confidence(emb: np.ndarray, labels: np.ndarray, region_of: np.ndarray) -> np.ndarray:
    """Per window, the probability of its own speaker against the others: a softmax of its
    (neighbour-averaged) d-vector's cosine to each speaker's mean voice. 1.0 with one speaker."""
    present = np.unique(labels)
    if len(present) < 2:
        return np.ones(len(emb))
    avg = _averaged(emb, region_of)
    centroids = np.stack([avg[labels == k].mean(0) for k in present])
    scores = avg @ (centroids / np.linalg.norm(centroids, axis=1, keepdims=True)).T * CONFIDENCE_SCALE
    p = np.exp(scores - scores.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return p[np.arange(len(emb)), np.searchsorted(present, labels)]


def _centroids(e: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The labels present and the mean embedding of each."""
    present = np.unique(labels)
    return present, np.stack([e[labels == k].mean(0) for k in present])


def smooth(e: np.ndarray, labels: np.ndarray, region_of: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Re-score each window against the speaker centroids, averaged with its neighbours in the same
    region: one noisy 0.8 s window no longer flips the speaker."""
    for _ in range(rounds):
        present, centroids = _centroids(e, labels)
        scores = e @ (centroids / np.linalg.norm(centroids, axis=1, keepdims=True)).T
        smoothed = np.empty_like(scores)
        for r in np.unique(region_of):
            idx = np.flatnonzero(region_of == r)
            for j, i in enumerate(idx):
                smoothed[i] = scores[idx[max(0, j - SMOOTH) : j + SMOOTH + 1]].mean(0)
        labels = present[smoothed.argmax(1)]
    return labels

