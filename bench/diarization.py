"""Speaker turns on two-party calls: DER, WDER, mid-sentence changes, roles, one voice, cost.

    python scripts/make_dialogue_calls.py --shared ../shared/data --kame kame_finetune     # data/spokenwoz: 6 real calls
    python scripts/make_twoparty.py --shared ../shared/data --calls 24                # data/twoparty: 24 mixes
    python bench/diarization.py --split check --json bench/results/speaker_turns.json
    python bench/diarization.py --split tune --tune                                  # the grid the defaults came from

Sets (bench/speaker_splits.json fixes each one's tuning and check half): `spokenwoz`, real service
dialogues mixed to mono GSM, reference turns from their clean stereo channels; `twoparty`, read
speech mixed into dialogues and one-voice voicemails (scripts/make_twoparty.py). Every call is
transcribed once with the default settings and no diarization (cached in --cache with its time, as
are its d-vector windows), then diarized with `speakers: 2` and `auto`, its words labelled two ways:
`turns` (each word the speaker holding most of it, the previous way) and `words` (the word-level
Viterbi of `callscribe.speaker_words`, the default). DER is pyannote.metrics' with no collar and with
0.25 s forgiven either side of each reference boundary, over the whole file, of the turns the
pipeline writes as the call's RTTM.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import itertools
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callscribe import diarize, roles, speaker_metrics, speaker_words, voices  # noqa: E402
from callscribe.audio import load_audio, to_mono  # noqa: E402
from callscribe.evaluate import load_turns  # noqa: E402
from callscribe.records import Transcript  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPLITS = json.loads((REPO / "bench" / "speaker_splits.json").read_text())
MODELS = ("dvector", "campplus")  # callscribe.diarize's two speaker models
GRID = {"MID_SWITCH": [3.0, 6.0, 12.0, 20.0, 40.0], "BOUNDARY_SWITCH": [0.0, 0.3, 1.0]}


def calls(folders: dict[str, Path], split: str) -> list[dict]:
    """One row per call of the split: set, name, audio, rttm, kind."""
    out = []
    for set_name, folder in folders.items():
        wanted = set(SPLITS[set_name]["tune"] if split == "tune" else SPLITS[set_name]["check"] if split == "check"
                     else SPLITS[set_name]["tune"] + SPLITS[set_name]["check"])
        for row in map(json.loads, (folder / "manifest.jsonl").read_text().splitlines()):
            name = Path(row["audio"]).stem
            if name in wanted:
                out.append({"set": set_name if row["kind"] == "dialogue" else f"{set_name}_voicemails", "name": name,
                            "audio": folder / row["audio"], "rttm": folder / row["rttm"], "duration": row["duration"]})
    return out


def prepared(call: dict, cache: Path) -> tuple[Transcript, diarize.Windows, diarize.Windows, dict]:
    """The call's transcript (default settings, no diarization), its d-vector windows and its
    CAM++ windows (segmentation's speech), with the seconds each took on this machine, timed one after the other;
    computed once, then read from the cache."""
    from callscribe.engines import load_engine
    from callscribe.settings import TranscribeSettings
    from callscribe.transcribe import transcribe_audio

    asr, win, chk = cache / f"{call['name']}.json", cache / f"{call['name']}.npz", cache / f"{call['name']}.cam.npz"
    if not asr.is_file() or not win.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        settings = TranscribeSettings(workers=1, diarize=False).resolved()
        audio = load_audio(call["audio"])
        if not hasattr(prepared, "engine"):  # load the model and the encoder, import the clustering: not timed
            prepared.engine = load_engine(settings)
            diarize.diarizer().turns(to_mono(audio)[: 20 * 16000], "auto")
        engine = prepared.engine
        t0 = time.perf_counter()
        transcript, _ = transcribe_audio(engine, audio, settings)
        t1 = time.perf_counter()
        w = diarize.diarizer().windows(to_mono(audio))
        diarize.turns_of(w, "auto")
        t2 = time.perf_counter()
        asr.write_text(json.dumps({"transcript": transcript.to_dict(), "transcribe_s": t1 - t0, "diarize_s": t2 - t1}))
        np.savez(win, centres=w.centres, region_of=w.region_of, emb=w.emb, regions=np.array(w.regions).reshape(-1, 2))
    data = json.loads(asr.read_text())
    if not chk.is_file() or "campplus_s" not in data:
        audio = to_mono(load_audio(call["audio"]))
        if not hasattr(prepared, "segmenter"):  # load the models: not timed
            prepared.segmenter = diarize.segmentation_diarizer()
            prepared.segmenter.turns(audio[: 20 * 16000], "auto")
        t0 = time.perf_counter()
        w = prepared.segmenter.windows(audio)
        diarize.turns_of(w, "auto")
        data["campplus_s"] = time.perf_counter() - t0
        asr.write_text(json.dumps(data))
        np.savez(chk, centres=w.centres, region_of=w.region_of, emb=w.emb, regions=np.array(w.regions).reshape(-1, 2))
    z = np.load(win)
    w = diarize.Windows([tuple(r) for r in z["regions"].tolist()], z["centres"], z["region_of"], z["emb"])
    z = np.load(chk)
    ch = diarize.Windows([tuple(r) for r in z["regions"].tolist()], z["centres"], z["region_of"], z["emb"],
                         diarize.CAM_WINDOW * diarize.FRAME_S / 2, voices.CAMPPLUS)
    cost = {"transcribe_s": data["transcribe_s"], "diarize_s": data["diarize_s"], "campplus_s": data["campplus_s"]}
    return Transcript.from_dict(data["transcript"]), w, ch, cost


def labelled(transcript: Transcript, turns: diarize.Turns, how: str) -> tuple[list, dict | None, bool, diarize.Turns]:
    """Words with speakers (the word-level Viterbi, or the turn holding most of each word), then roles;
    and the turns they took (`speaker_words.labelled_turns`: CAM++'s two-way split when the text reads
    as two parties)."""
    segments = copy.deepcopy(transcript.segments)
    turns, segments = speaker_words.labelled_turns(segments, turns)
    if how == "turns":
        segments = speaker_words.assign_speakers(copy.deepcopy(transcript.segments), diarize.Turns(list(turns)))
    named, guess = roles.name_parties(segments, ["agent", "caller"])
    words = [w for s in named for w in (s.words or [])]
    return words, guess, named is not segments, turns


def evaluate(rows: list[dict], cache: Path, modes=(2, "auto"), hows=("turns", "words"), models=MODELS) -> dict:
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    results: dict = {}
    for row in rows:
        transcript, w, cam, cost = prepared(row, cache)
        ref = load_turns(row["rttm"])
        uem = Timeline([Segment(0, row["duration"])])
        for model, mode in itertools.product(models, modes):
            turns = diarize.turns_of(w if model == "dvector" else cam, mode)
            spent = {"transcribe_s": cost["transcribe_s"], "diarize_s": cost["diarize_s" if model == "dvector" else "campplus_s"]}
            for how in hows:
                words, guess, named, taken = labelled(transcript, turns, how)
                hyp = Annotation()
                for t in taken:
                    hyp[Segment(t.start, t.end)] = t.speaker
                r = results.setdefault((row["set"], model, str(mode), how), {
                    "der": DiarizationErrorRate(), "der_collar": DiarizationErrorRate(collar=0.5), "files": {}})
                d = r["der"](ref, hyp, uem=uem)
                dc = r["der_collar"](ref, hyp, uem=uem)
                wd = speaker_metrics.wder(ref, words)
                ch = speaker_metrics.speaker_changes(words)
                two = len(ref.labels()) == 2
                r["files"][row["name"]] = {
                    "der": round(float(d), 4), "der_collar": round(float(dc), 4), "speakers": len(hyp.labels()),
                    "ref_speakers": len(ref.labels()), **{k: wd[k] for k in ("words", "unscored", "wrong", "wder")}, **ch,
                    "role": speaker_metrics.role_outcome(guess, wd["mapping"], named) if two else "n/a",
                    "role_confidence": guess["confidence"] if guess else None, **spent}
    return {f"{s} model={md} speakers={m} words={h}": summary(r) for (s, md, m, h), r in results.items()}


def summary(r: dict) -> dict:
    files = r["files"].values()
    words, wrong = sum(f["words"] for f in files), sum(f["wrong"] for f in files)
    changes, mid = sum(f["changes"] for f in files), sum(f["mid_sentence"] for f in files)
    t, d = sum(f["transcribe_s"] for f in files), sum(f["diarize_s"] for f in files)
    roles_seen = [f["role"] for f in files if f["role"] != "n/a"]
    return {"calls": len(r["files"]), "der": round(abs(r["der"]), 4), "der_collar": round(abs(r["der_collar"]), 4),
            "wder": round(wrong / words, 4) if words else 0.0, "words": words,
            "mid_sentence_share": round(mid / changes, 4) if changes else 0.0, "changes": changes,
            "speakers_found": [f["speakers"] for f in files],
            "roles": {k: roles_seen.count(k) for k in sorted(set(roles_seen))},
            "diarize_share": round(d / t, 4) if t else None, "files": r["files"]}


def tune(rows: list[dict], cache: Path, model: str) -> list[dict]:
    """Every combination of GRID on the rows (the tuning half): pooled WDER and mid-sentence share."""
    out = []
    for values in itertools.product(*GRID.values()):
        for name, v in zip(GRID, values):
            setattr(speaker_words, name, v)
        res = evaluate(rows, cache, modes=("auto",), hows=("words",), models=(model,))
        words = sum(r["words"] for r in res.values())
        wrong = sum(r["wder"] * r["words"] for r in res.values())
        changes = sum(r["changes"] for r in res.values())
        mid = sum(r["mid_sentence_share"] * r["changes"] for r in res.values())
        out.append({**dict(zip(GRID, values)), "wder": round(wrong / words, 4), "mid_sentence_share": round(mid / max(changes, 1), 4),
                    **{k.split()[0]: (r["wder"], r["mid_sentence_share"]) for k, r in res.items()}})
    return sorted(out, key=lambda r: r["wder"] + r["mid_sentence_share"] / 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spokenwoz", default=str(REPO / "data" / "spokenwoz"))
    ap.add_argument("--twoparty", default=str(REPO / "data" / "twoparty"))
    ap.add_argument("--split", choices=["tune", "check", "all"], default="check")
    ap.add_argument("--cache", default=str(REPO / "data" / "speaker_bench"), help="transcripts and d-vectors of each call")
    ap.add_argument("--tune", action="store_true", help="grid over the word-level settings (use with --split tune)")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--model", choices=MODELS, default="campplus", help="the speaker model --tune tunes")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    rows = calls({"spokenwoz": Path(args.spokenwoz), "twoparty": Path(args.twoparty)}, args.split)
    cache = Path(args.cache)
    if args.tune:
        for r in tune(rows, cache, args.model)[:12]:
            print(json.dumps(r))
        return
    results = evaluate(rows, cache)
    for name, r in results.items():
        print(f"{name}: {r['calls']} calls, DER {r['der']:.1%} (collar 0.25 s {r['der_collar']:.1%}), "
              f"WDER {r['wder']:.1%} of {r['words']} words, "
              f"mid-sentence {r['mid_sentence_share']:.1%} of {r['changes']} changes, speakers {r['speakers_found']}, roles {r['roles']}, "
              f"diarization {r['diarize_share']:.1%} of transcription time")
    cost = {}
    for model in MODELS:
        timed = [f for k, r in results.items() if k.endswith(f"model={model} speakers=auto words=words") for f in r["files"].values()]
        c = cost[model] = {"calls": len(timed), "transcribe_s": round(sum(f["transcribe_s"] for f in timed), 2),
                           "diarize_s": round(sum(f["diarize_s"] for f in timed), 2)}
        c["diarize_share"] = round(c["diarize_s"] / c["transcribe_s"], 4) if timed else None
        print(f"cost, {model}: diarization {c['diarize_s']} s = {c['diarize_share']:.1%} of transcription {c['transcribe_s']} s "
              f"({c['calls']} calls, each timed side by side when first prepared)")
    if args.json:
        meta = {"command": " ".join(sys.argv), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
                "machine": f"{platform.machine()} {platform.processor() or ''} {len(__import__('os').sched_getaffinity(0))} cores".strip(),
                "split": args.split}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "cost": cost, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
