"""Stage evaluate: WER and CER of the transcripts on the labelled subset -> metrics/wer.json;
who-said-what on the labelled calls with speaker turns (RTTM) or channels -> metrics/der.json."""

import json
from pathlib import Path

from callscribe import params, plots
from callscribe.evaluate import channel_wer, diarization_error, load_turns, score, summary


def main():
    p = params.load()
    labels_path = Path(p["evaluate"]["labels"])
    labels = params.read_jsonl(labels_path)
    rows = params.read_jsonl("data/output/calls.jsonl")
    calls = {(r["archive"], r["name"]): r for r in rows}
    pairs, missing, filtered, der, stereo = [], [], 0, {}, {}
    for lab in labels:
        call = calls.get((lab["archive"], lab["file"]))
        if call is not None and call["status"] == "filtered":  # left out on purpose (filter params)
            filtered += 1
            continue
        if call is None or call["status"] not in ("ok", "no_speech"):
            missing.append(lab["file"])
            continue
        pairs.append((call["id"], lab["text"], call["text"] or ""))
        stem = Path("data/output/transcripts") / call["id"]
        if lab.get("rttm") and Path(f"{stem}.rttm").exists():
            der[call["id"]] = diarization_error(load_turns(labels_path.parent / lab["rttm"]), load_turns(f"{stem}.rttm"),
                                                  uem=(0.0, call["duration"]))
        if lab.get("channel_texts") and Path(f"{stem}.json").exists():
            segments = json.loads(Path(f"{stem}.json").read_text(encoding="utf-8"))["segments"]
            stereo[call["id"]] = channel_wer(lab["channel_texts"], segments, p["transcribe"].get("channel_names") or ["agent", "caller"])
    metrics, details = score(pairs)
    metrics.update(filtered=filtered, missing=len(missing))
    params.write_json("metrics/wer.json", metrics)
    params.write_jsonl("data/eval/wer_details.jsonl", details)
    speech = sum(d["speech_s"] for d in der.values())
    errors = sum(d["missed_s"] + d["false_alarm_s"] + d["confusion_s"] for d in der.values())
    params.write_json("metrics/der.json", {
        "der": round(errors / speech, 4) if speech else None, "calls": len(der),
        "stereo_channel_wer": round(sum(stereo.values()) / len(stereo), 4) if stereo else None, "stereo_calls": len(stereo),
    })
    params.write_json("data/eval/der_details.json", {"rttm": der, "stereo_channel_wer": stereo})
    top = summary(metrics, params.load_json("metrics/der.json"), rows, params.load_json("metrics/transcribe.json"))
    params.write_json("metrics.json", top)
    # Per experiment (`dvc plots diff`): WER against speed; and how long each stage's last run took.
    plots.write_json("plots/quality.json", [{"speed": top["speed"], "wer": top["wer"]}])
    order = ["extract", "profile", "filter", *(f"transcribe@{s}" for s in p["shards"]), "merge"]
    times = plots.stage_times(order)
    plots.write_json("plots/stage_seconds.json", times)
    plots.bar_png("plots/stage_seconds.png", [t["stage"] for t in times], [t["seconds"] for t in times],
                  "stage", "seconds", "time per stage (last run)")
    print(f"evaluate: WER {metrics.get('wer', 0):.2%}, CER {metrics.get('cer', 0):.2%} on {metrics['scored_files']} files"
          + (f"; DER {errors / speech:.2%} on {len(der)} calls" if speech else "")
          + (f"; {len(missing)} labelled files not transcribed: {', '.join(missing[:5])}" if missing else ""))


if __name__ == "__main__":
    main()
