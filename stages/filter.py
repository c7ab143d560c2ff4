"""Stage filter: choose the calls to transcribe (each audio once) and split them into date-range shards."""

import sys
import time
from collections import Counter
from pathlib import Path

from callscribe import params, plots
from callscribe.fileio import read_jsonl, write_json, write_jsonl
from callscribe.selection import FilterParams, choose, propose_shards, shard_lines


def main():
    started = time.perf_counter()
    p = params.load()
    fp = FilterParams(**p["filter"])
    rows = read_jsonl("data/profile.jsonl")
    sel = choose(rows, p["shards"], fp)
    if sel.unsharded:  # a new month without a shard: stop, rather than drop its calls quietly
        dates = Counter(r["date"] for r in sel.unsharded)
        sys.exit(f"filter: {len(sel.unsharded)} calls have dates that no shard in params.yaml covers: "
                 + ", ".join(f"{d} ({n})" for d, n in sorted(dates.items())[:10]) + (" ..." if len(dates) > 10 else "")
                 + ".\nAdd these lines under `shards:` in params.yaml (`callscribe shards --propose` prints them), "
                 "or leave the dates out with filter.start / filter.end:\n" + shard_lines(propose_shards(list(dates), p["shards"])))

    out = Path("data/selected")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.jsonl"):
        old.unlink()
    for shard, kept in sel.shards.items():
        write_jsonl(out / f"{shard}.jsonl", [{k: r[k] for k in ("id", "path", "sha256", "duration", "date")} for r in kept])
    dropped = [{"id": r["id"], "reason": sel.dropped[r["id"]]} for r in rows if r["id"] in sel.dropped]
    for d in dropped:
        if d["id"] in sel.duplicate_of:
            d["duplicate_of"] = sel.duplicate_of[d["id"]]
    write_jsonl("data/filtered_out.jsonl", dropped)
    write_json("metrics/filter.json", sel.metrics)
    print(f"filter: kept {sel.metrics['kept']} of {sel.metrics['files']}; dropped {sel.metrics['dropped_by_reason']}")
    plots.record_time("filter", started)


if __name__ == "__main__":
    main()
