"""Stage analytics: the index -> data/output/analytics.db, metrics/analytics.json, plots/analytics/ (docs/INDEX.md)."""

import sys
import time
from pathlib import Path

from callscribe import params
from callscribe.analytics import reasons, report, store
from callscribe.analytics.params import parse
from callscribe.analytics.update import update
from callscribe.plots import record_time, write_json

INDEX = Path("data/output/calls.db")
DB = Path("data/output/analytics.db")
MODEL = Path("data/output/reasons-model.joblib")


def main() -> int:
    started = time.perf_counter()
    try:  # every setting checked before any work (params.load: every section, with its defaults)
        p = parse(params.load()["analytics"])
        names = reasons.names(p.reasons.names)
    except ValueError as e:  # the names file
        print(f"analytics: {e}", file=sys.stderr)
        return 2
    stats = update(INDEX, Path("data"), DB, MODEL, p, names)
    print(f"analytics: {stats.calls} transcribed calls ({stats.measured} measured, {stats.unchanged} unchanged, "
          f"{stats.deleted} deleted){'; reasons fitted again' if stats.refitted else ''}")
    for err in stats.errors:
        print(f"analytics: skipped {err}", file=sys.stderr)
    con = report.attach(INDEX, DB)
    summary = report.summary(con, list(p.trackers))
    con.close()
    store.keep_summary(DB, summary)
    write_json("metrics/analytics.json", {**summary["headline"], "errors": len(stats.errors)})
    report.write_plots(summary, Path("plots/analytics"))
    record_time("analytics", started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
