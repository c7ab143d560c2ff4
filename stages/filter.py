"""Stage filter: choose the calls to transcribe and split them into date-range shards."""

from pathlib import Path

from callscribe import params
from callscribe.fileio import read_jsonl, write_json, write_jsonl
from callscribe.selection import FilterParams, drop_reason, select


def main():
    p = params.load()
    fp = FilterParams(**p["filter"])
    rows = read_jsonl("data/profile.jsonl")
    selected, metrics = select(rows, p["shards"], fp)

    out = Path("data/selected")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.jsonl"):
        old.unlink()
    for shard, kept in selected.items():
        write_jsonl(out / f"{shard}.jsonl", [{k: r[k] for k in ("id", "path", "sha256", "duration", "date")} for r in kept])
    kept_ids = {r["id"] for kept in selected.values() for r in kept}
    write_jsonl("data/filtered_out.jsonl", [
        {"id": r["id"], "reason": drop_reason(r, fp) or ("no shard covers its date" if r.get("date") else "no date in name")}
        for r in rows if r["id"] not in kept_ids
    ])
    write_json("metrics/filter.json", metrics)
    print(f"filter: kept {metrics['kept']} of {metrics['files']}; dropped {metrics['dropped_by_reason']}")


if __name__ == "__main__":
    main()
