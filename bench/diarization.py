"""Diarization error rate and cost: prints figures for docs/PERFORMANCE.md.

    python bench/diarization.py [--shared ../shared/data] [--json out.json]

DER (pyannote.metrics, no collar, overlap scored) of `callscribe.diarize` on
`diarization_only_16k` (the two-speaker sample and 14 AMI excerpts, RTTM and UEM given), on a
telephone-band copy of the two-speaker sample (300-3400 Hz, 8 kHz, GSM 6.10, made here), and on
the samples' two-speaker GSM call; each with the oracle speaker count, the default (2) and auto.
Cost: diarization time as a share of transcription time on the 5-minute GSM long-form, both
measured in this run on one thread.

    python bench/diarization.py --calls [--per-call] [--twoparty data/twoparty]

Service calls only (fast, no transcription): DER on the three real SpokenWOZ dialogues (mono GSM
mixes) and on the two-party dev set of `scripts/make_twoparty.py` (built there if missing), with
no collar and with a collar of 0.25 s either side of each reference boundary (NIST md-eval's
convention), for the oracle speaker count, 2 and auto; plus how many speakers auto finds on each,
and where the error lies (missed speech, false alarm, confusion), per call with --per-call.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import soundfile as sf
import soxr
from pyannote.core import Annotation, Segment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callscribe.audio import load_audio, to_mono  # noqa: E402
from callscribe.diarize import diarizer  # noqa: E402
from callscribe.evaluate import load_turns  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TWO_SPEAKER_CALL = "q-300-+18285550185-20250920-134857-1758390537.8958"


def telephone(src: Path, dst: Path) -> Path:
    """300-3400 Hz band, 8 kHz, GSM 6.10 WAV: the phone system's format."""
    from scipy.signal import butter, sosfiltfilt

    audio, sr = sf.read(src, dtype="float32")
    band = sosfiltfilt(butter(8, [300, 3400], btype="band", fs=sr, output="sos"), audio)
    sf.write(dst, soxr.resample(band, sr, 8000, quality="HQ"), 8000, format="WAV", subtype="GSM610")
    return dst


def annotation(turns) -> Annotation:
    hyp = Annotation()
    for t in turns:
        hyp[Segment(t.start, t.end)] = t.speaker
    return hyp


def der_table(items, modes=("oracle", 2, "auto"), collar: float = 0.0) -> dict:
    """items: (name, audio path, reference Annotation, uem (start, end)). DER per set and mode.
    `collar`: seconds forgiven either side of each reference boundary."""
    from pyannote.core import Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    out = {}
    for mode in modes:
        metric = DiarizationErrorRate(collar=2 * collar)  # pyannote's collar is the whole width
        per = {}
        for name, path, ref, uem in items:
            k = len(ref.labels()) if mode == "oracle" else mode
            hyp = annotation(diarizer().turns(to_mono(load_audio(path)), k))
            d = metric(ref, hyp, uem=Timeline([Segment(*uem)]), detailed=True)
            per[name] = {"der": round(float(d["diarization error rate"]), 4), "speakers": len(hyp.labels()), **parts(d)}
        out[str(mode)] = {"der": round(abs(metric), 4), **parts(metric.accumulated_), "files": per}
    return out


def parts(d) -> dict:
    """Where the error lies, as shares of the reference speech: missed speech (overlap included: one
    speaker per frame), false alarm (speech where the reference has none), confusion (wrong speaker)."""
    total = d["total"] or 1.0
    return {"speech_s": round(float(d["total"]), 2), "missed": round(d["missed detection"] / total, 4),
            "false_alarm": round(d["false alarm"] / total, 4), "confusion": round(d["confusion"] / total, 4)}


def cost(path: Path) -> dict:
    from callscribe.engines import load_engine
    from callscribe.settings import TranscribeSettings
    from callscribe.transcribe import transcribe_audio

    settings = TranscribeSettings(workers=1, diarize=False).resolved()
    engine = load_engine(settings)
    audio = load_audio(path)
    diarizer()  # load the encoder before timing, as a worker does once
    t0 = time.perf_counter()
    transcribe_audio(engine, audio, settings)
    t1 = time.perf_counter()
    diarizer().turns(to_mono(audio), 2)
    t2 = time.perf_counter()
    return {"audio_s": round(audio.shape[1] / 16000, 1), "transcribe_s": round(t1 - t0, 2), "diarize_s": round(t2 - t1, 2),
            "diarize_share": round((t2 - t1) / (t1 - t0), 4)}


def calls(shared: Path, twoparty: Path) -> dict:
    """DER on the real SpokenWOZ dialogues and on the two-party dev set, without and with a collar."""
    if not (twoparty / "manifest.jsonl").is_file():
        import subprocess

        script = REPO / "scripts" / "make_twoparty.py"
        subprocess.run([sys.executable, str(script), "--shared", str(shared), "--out", str(twoparty)], check=True)
    woz = shared / "gsm8k" / "spokenwoz_calls_8k"
    sets = {"spokenwoz_real_gsm8k": (woz, [json.loads(line) for line in open(woz / "manifest.jsonl")])}
    dev = [json.loads(line) for line in open(twoparty / "manifest.jsonl")]
    sets["twoparty_dev_dialogues"] = (twoparty, [m for m in dev if m["kind"] == "dialogue"])
    sets["twoparty_dev_voicemails"] = (twoparty, [m for m in dev if m["kind"] == "voicemail"])
    results = {}
    for name, (folder, rows) in sets.items():
        items = [(Path(m["audio"]).stem, folder / m["audio"], load_turns(folder / m["rttm"]), (0.0, sf.info(folder / m["audio"]).duration))
                 for m in rows]
        for collar in (0.0, 0.25):
            results[f"{name} collar {collar}"] = der_table(items, collar=collar)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--calls", action="store_true", help="only the service calls: SpokenWOZ and the two-party dev set")
    ap.add_argument("--per-call", action="store_true", help="with --calls: missed / false alarm / confusion of each call")
    ap.add_argument("--twoparty", default=str(REPO / "data" / "twoparty"), help="the dev set's folder (built if missing)")
    args = ap.parse_args()
    if args.calls:
        warnings.filterwarnings("ignore")
        results = calls(Path(args.shared), Path(args.twoparty))
        for name, res in results.items():
            print(f"{name}: " + ", ".join(f"{mode} {r['der']:.1%} (missed {r['missed']:.1%}, false alarm {r['false_alarm']:.1%}, "
                                          f"confusion {r['confusion']:.1%})" for mode, r in res.items())
                  + "; auto finds " + " ".join(str(f["speakers"]) for f in res["auto"]["files"].values()))
            if args.per_call:
                for mode, r in res.items():
                    for call, f in r["files"].items():
                        print(f"    {mode:>6} {call}: DER {f['der']:.1%}, missed {f['missed']:.1%}, false alarm {f['false_alarm']:.1%}, "
                              f"confusion {f['confusion']:.1%} of {f['speech_s']} s; {f['speakers']} speakers")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return
    shared = Path(args.shared) / "diarization_only_16k"
    if not shared.is_dir():
        sys.exit(f"{shared} not found: pass --shared with the folder holding diarization_only_16k/")
    warnings.filterwarnings("ignore")
    manifest = [json.loads(line) for line in (shared / "manifest.jsonl").read_text().splitlines()]

    def item(m, audio):
        return (Path(m["audio"]).stem, audio, load_turns(shared / m["rttm"]), tuple(m.get("uem") or (0.0, m["duration"])))

    results = {}
    sample = next(m for m in manifest if m["audio"].endswith("sample.flac"))
    results["two_speaker_sample_16k"] = der_table([item(sample, shared / sample["audio"])])
    with tempfile.TemporaryDirectory() as tmp:
        gsm = telephone(shared / sample["audio"], Path(tmp) / "sample_gsm.wav")
        results["two_speaker_sample_gsm8k"] = der_table([item(sample, gsm)])
    ami = [item(m, shared / m["audio"]) for m in manifest if m is not sample]
    results["ami_excerpts_16k"] = der_table(ami)

    from callscribe.archive import extract

    with tempfile.TemporaryDirectory() as tmp:
        extract(sorted((REPO / "samples").glob("calls_*.zip")), Path(tmp))
        call = next(Path(tmp).rglob(f"{TWO_SPEAKER_CALL}.WAV"))
        ref = load_turns(REPO / "samples" / "rttm" / f"{TWO_SPEAKER_CALL}.rttm")
        results["samples_two_speaker_gsm_call"] = der_table([(call.stem, call, ref, (0.0, sf.info(call).duration))])
        long_call = next(Path(tmp).rglob("*1758833185*.WAV"))
        results["cost_5min_gsm"] = cost(long_call)

    for name, res in results.items():
        if name.startswith("cost"):
            print(f"{name}: transcribe {res['transcribe_s']} s, diarize {res['diarize_s']} s for {res['audio_s']} s of audio "
                  f"-> diarization = {res['diarize_share']:.1%} of transcription time")
        else:
            print(f"{name}: " + ", ".join(f"{mode} {r['der']:.1%}" for mode, r in res.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
