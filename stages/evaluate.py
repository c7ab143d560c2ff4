"""Stage evaluate: WER and CER of the transcripts on the labelled subset -> metrics/wer.json;
who-said-what on the labelled calls with speaker turns (RTTM) or channels -> metrics/der.json."""

from pathlib import Path

from callscribe import params
from callscribe.evaluate import pair, score
from callscribe.fileio import read_jsonl, write_json, write_jsonl
from callscribe.settings import TranscribeSettings


def main():
    p = params.load()
    labels_path = Path(p["evaluate"]["labels"])
    channel_names = p["transcribe"].get("channel_names") or TranscribeSettings().channel_names
    paired = pair(read_jsonl(labels_path), read_jsonl("data/output/calls.jsonl"), labels_path.parent,
                  Path("data/output/transcripts"), channel_names)
    der, stereo, missing = paired.der, paired.stereo, paired.missing
    metrics, details = score(paired.texts)
    metrics.update(filtered=paired.filtered, missing=len(missing))
    write_json("metrics/wer.json", metrics)
    write_jsonl("data/eval/wer_details.jsonl", details)
    speech = sum(d["speech_s"] for d in der.values())
    errors = sum(d["missed_s"] + d["false_alarm_s"] + d["confusion_s"] for d in der.values())
    write_json("metrics/der.json", {
        "der": round(errors / speech, 4) if speech else None, "calls": len(der),
        "stereo_channel_wer": round(sum(stereo.values()) / len(stereo), 4) if stereo else None, "stereo_calls": len(stereo),
    })
    write_json("data/eval/der_details.json", {"rttm": der, "stereo_channel_wer": stereo})
    print(f"evaluate: WER {metrics.get('wer', 0):.2%}, CER {metrics.get('cer', 0):.2%} on {metrics['scored_files']} files"
          + (f"; DER {errors / speech:.2%} on {len(der)} calls" if speech else "")
          + (f"; {len(missing)} labelled files not transcribed: {', '.join(missing[:5])}" if missing else ""))


if __name__ == "__main__":
    main()
