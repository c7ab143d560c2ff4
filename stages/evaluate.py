"""Stage evaluate: WER and CER of the transcripts on the labelled subset -> metrics/wer.json, and on
the owner's own labels (labels/labels.jsonl, made on the review page) weighted to the whole archive -> its `own`;
who-said-what on the labelled calls with speaker turns (RTTM) or channels -> metrics/der.json;
the figures that matter -> metrics.json; WER against speed and time per stage -> plots/."""

import json
from pathlib import Path

from callscribe import params, plots
from callscribe.evaluate import pair, score, summary
from callscribe.fileio import read_jsonl, write_json, write_jsonl
from callscribe.scoring import is_excerpt, pair_labels, summarize

OWN = Path("labels/labels.jsonl")  # written by the review page; the review stage tracks the folder


def main():
    p = params.load()
    labels_path = Path(p["evaluate"]["labels"])
    channel_names = p["transcribe"]["channel_names"]  # params.load fills in the default
    calls = read_jsonl("data/output/calls.jsonl")
    given = read_jsonl(labels_path)
    paired = pair([lab for lab in given if not is_excerpt(lab)], calls, labels_path.parent, Path("data/output/transcripts"), channel_names)
    der, stereo, missing = paired.der, paired.stereo, paired.missing
    metrics, details = score(paired.texts)
    metrics.update(filtered=paired.filtered, missing=len(missing))
    # The owner's labels, and any excerpt labels evaluate.labels holds (it may name labels/labels.jsonl itself).
    own_labels = [*(read_jsonl(OWN) if OWN.is_file() and OWN.resolve() != labels_path.resolve() else []), *filter(is_excerpt, given)]
    own_rows, own_missing = pair_labels(own_labels, calls, Path("data/output/transcripts"))
    own = summarize(own_rows) | {"missing": len(own_missing)}
    metrics["own"] = own
    write_json("metrics/wer.json", metrics)
    write_jsonl("data/eval/wer_details.jsonl", details)
    write_jsonl("data/eval/own_details.jsonl", own_rows)
    speech = sum(d["speech_s"] for d in der.values())
    errors = sum(d["missed_s"] + d["false_alarm_s"] + d["confusion_s"] for d in der.values())
    der_metrics = {
        "der": round(errors / speech, 4) if speech else None, "calls": len(der),
        "stereo_channel_wer": round(sum(stereo.values()) / len(stereo), 4) if stereo else None, "stereo_calls": len(stereo),
    }
    write_json("metrics/der.json", der_metrics)
    write_json("data/eval/der_details.json", {"rttm": der, "stereo_channel_wer": stereo})
    top = summary(metrics, der_metrics, calls, json.loads(Path("metrics/transcribe.json").read_text(encoding="utf-8")), own)
    write_json("metrics.json", top)
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
    if own["excerpts"]:
        print(f"evaluate: own labels: WER {own['wer']:.2%} (95 % {own['wer_lo']:.2%}-{own['wer_hi']:.2%}) over the archive, "
              f"{own['excerpts']} excerpts, {own['minutes']} min" + (f"; {len(own_missing)} not transcribed here" if own_missing else ""))


if __name__ == "__main__":
    main()
