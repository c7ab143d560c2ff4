"""Stage evaluate: WER and CER of the transcripts on the labelled subset -> metrics/wer.json."""

from callscribe import params
from callscribe.evaluate import score


def main():
    labels = params.read_jsonl(params.load()["evaluate"]["labels"])
    calls = {(r["archive"], r["name"]): r for r in params.read_jsonl("data/output/calls.jsonl")}
    pairs, missing, filtered = [], [], 0
    for lab in labels:
        call = calls.get((lab["archive"], lab["file"]))
        if call is not None and call["status"] == "filtered":  # left out on purpose (filter params)
            filtered += 1
            continue
        if call is None or call["status"] not in ("ok", "no_speech"):
            missing.append(lab["file"])
            continue
        pairs.append((call["id"], lab["text"], call["text"] or ""))
    metrics, details = score(pairs)
    metrics.update(filtered=filtered, missing=len(missing))
    params.write_json("metrics/wer.json", metrics)
    params.write_jsonl("data/eval/wer_details.jsonl", details)
    print(f"evaluate: WER {metrics.get('wer', 0):.2%}, CER {metrics.get('cer', 0):.2%} on {metrics['scored_files']} files"
          + (f"; {len(missing)} labelled files not transcribed: {', '.join(missing[:5])}" if missing else ""))


if __name__ == "__main__":
    main()
