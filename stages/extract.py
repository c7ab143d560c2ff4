"""Stage extract: unpack the archives in params `extract.archives` into data/audio/<archive>/."""

import sys
import time

from callscribe import params, plots
from callscribe.archive import ArchiveError, ExtractParams, extract


def main():
    started = time.perf_counter()
    p = ExtractParams(**params.load()["extract"])
    try:
        reports = extract(p.archives, "data/audio", p.limits())
    except ArchiveError as e:
        sys.exit(f"extract: {e}")
    for r in reports:
        print(f"extract: {r.archive}: {len(r.extracted)} new, {len(r.unchanged)} unchanged, {len(r.skipped)} skipped")
        for name, why in r.skipped:
            print(f"  skipped {name}: {why}")
        if not r.extracted and not r.unchanged:
            print(f"extract: WARNING: {r.archive} holds no WAV file to transcribe; check that it is the right export "
                  "(or take it out of extract.archives in params.yaml)", file=sys.stderr)
    plots.record_time("extract", started)


if __name__ == "__main__":
    main()
