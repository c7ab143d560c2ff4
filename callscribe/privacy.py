"""Redaction where transcripts are written, so that no file that is shared holds raw text.

The transcribe stage's folder (data/transcripts/<shard>: per-call JSON, journal, store) is pushed to the
DVC remote, so that another machine need not transcribe again; the CLI's OUT folder is handed around.
`Masker` masks each call as `runner.Writer` writes it (segment text and words, times kept) and puts on
its record what was masked (`redactions`: kinds and counts, never values) and with which settings
(`redacted`: their signature). The unredacted original is written only with `keep_unredacted`, to a
private folder laid out like the shared one (`<call>.json`, `store/`): data/private/<shard>, a DVC
output with `push: false`.

When the redact settings change, `refresh` re-applies them to every transcript the folder holds (per-call
JSON and store) before the run, decoding nothing: from the kept original when there is one, else on the
masked text, which can only add masks. A kind taken out of `redact.kinds` therefore comes back only from
the originals; without them it stays masked (and counted).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from callscribe.fileio import write_json
from callscribe.journal import Journal
from callscribe.outputs import FORMATS, write_transcript
from callscribe.records import CallRecord, Transcript
from callscribe.redact import RedactSettings
from callscribe.redact.masker import remask
from callscribe.store import Store

MARK = "redaction-settings.json"  # in the shared folder: the settings everything in it is masked with


class Masker:
    def __init__(self, settings: RedactSettings, private_dir: str | Path | None, formats=("json",)):
        self.settings, self.formats = settings, tuple(formats)
        self.signature = settings.signature()
        self.private_dir = Path(private_dir) if private_dir is not None else None
        self.keep = settings.keep_unredacted and self.private_dir is not None
        self.private_store = Store(self.private_dir) if self.keep else None
        self.seconds = 0.0  # spent finding and masking (Presidio's import included)

    def apply(self, record: CallRecord, t: Transcript, original: Transcript | None = None) -> tuple[Transcript, Transcript | None]:
        """`t` (raw from the decoder, or masked with other settings) masked with the current settings,
        and the original when known. Sets the record's `redactions` and `redacted`."""
        started = time.perf_counter()
        m = remask(t, record.redacted, record.redactions, original, self.settings)
        self.seconds += time.perf_counter() - started
        record.redactions, record.redacted = m.redactions, m.redacted
        return m.transcript, m.original

    # ---- the originals, apart ------------------------------------------------------------------------

    def original(self, call_id: str) -> Transcript | None:
        """The kept original of the call's latest transcript."""
        if not self.keep:
            return None
        try:
            return Transcript.from_dict(json.loads((self.private_dir / f"{call_id}.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def stored(self, sha256: str, settings_hash: str) -> Transcript | None:
        """The kept original of what these settings made from this audio."""
        kept = self.private_store.get(sha256, settings_hash) if self.keep else None
        return Transcript.from_dict(kept["transcript"]) if kept and kept.get("transcript") else None

    def keep_original(self, call_id: str, record: dict, original: Transcript | None, store: bool) -> None:
        """Write the original where nothing is pushed from: `<call>.json` (and into the private store
        when the call is new). Not known (made before originals were kept): no stale copy is left."""
        if not self.keep:
            return
        if original is None:
            for fmt in (*self.formats, "rttm"):
                Path(f"{self.private_dir / call_id}.{fmt}").unlink(missing_ok=True)
            return
        write_transcript(original, self.private_dir / call_id, self.formats)
        if store:
            self.keep_stored(record, original)

    def keep_stored(self, record: dict, original: Transcript | None) -> None:
        if self.keep and original is not None:
            self.private_store.put(record, original.to_dict())

    def prune(self, store: Store) -> None:
        """The private store keeps what the shared store keeps."""
        if self.keep:
            for folder in self.private_store.settings():
                if not (store.root / folder.name).is_dir():
                    shutil.rmtree(folder)

    # ---- before a run ---------------------------------------------------------------------------------

    def refresh(self, out_dir: Path, store: Store) -> int:
        """Drop the originals when they are no longer to be kept, and re-apply changed redact settings to
        the transcripts `out_dir` holds. Returns how many were masked again."""
        if not self.settings.keep_unredacted and self.private_dir is not None and self.private_dir.is_dir():
            for p in self.private_dir.iterdir():  # the folder itself stays: it is a DVC output
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        mark = out_dir / MARK
        try:
            if json.loads(mark.read_text(encoding="utf-8")).get("signature", "") == self.signature:
                return 0
        except (OSError, ValueError):
            pass
        used = {f: f.stat().st_mtime for f in store.settings()}  # pruning goes by when settings were last used
        journal, n = Journal(out_dir / "journal.jsonl"), 0
        for e in journal.entries().values():
            path = out_dir / e["json"] if e.get("json") else None
            if path is None or e.get("redacted") == self.signature or not path.exists():
                continue
            record = CallRecord.from_dict(e)
            t, original = self.apply(record, Transcript.from_dict(json.loads(path.read_text(encoding="utf-8"))), self.original(record.id))
            if record.redacted != e.get("redacted"):
                if original is not None:  # raw until now: that is the original
                    self.keep_original(record.id, record.to_dict(), original, store=False)
                stem = out_dir / record.id  # every format there is of it, also one this run was not asked for
                write_transcript(t, stem, [*self.formats, *(f for f in FORMATS if f not in self.formats and Path(f"{stem}.{f}").exists())])
                journal.append(record.to_dict())  # same audio and settings hash: still done
                store.put(record.to_dict(), t.to_dict())
                n += 1
        for path in sorted(store.root.glob("*/*.json")):  # earlier settings' transcripts are pushed too
            try:
                kept = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            rec = kept.get("record") or {}
            if kept.get("transcript") is None or rec.get("redacted") == self.signature:
                continue
            record = CallRecord.from_dict({"id": "", "path": "", **rec})
            t, original = self.apply(record, Transcript.from_dict(kept["transcript"]), self.stored(rec["sha256"], rec["settings_hash"]))
            if record.redacted != rec.get("redacted"):
                self.keep_stored(record.to_dict(), original)
                store.put(record.to_dict(), t.to_dict())
        for folder, mtime in used.items():
            os.utime(folder, (mtime, mtime))
        write_json(mark, {"signature": self.signature, "enabled": self.settings.enabled, "kinds": list(self.settings.kinds),
                          "mask": self.settings.mask, "phone_regions": list(self.settings.phone_regions)})
        return n
