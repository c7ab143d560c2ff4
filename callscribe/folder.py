"""One shard's folder (data/transcripts/<shard>, or the CLI's OUT), and its one writer.

- `<call>.<format>`: each call's transcript (masked when a masker is given);
- `journal.jsonl`: a line per finished call, written after its outputs (a line exists only once they
  do); the latest line per call says what was made, from which audio, with which settings;
- `store/<settings hash>/<sha256>.json`: every settings' transcripts, so going back costs no decoding;
- `redaction-settings.json`: the redact settings everything here is masked with.

The folder is pushed to the DVC remote, so it holds masked text only: the originals, when
`redact.keep_unredacted`, go to a private folder laid out alike (data/private/<shard>: git-ignored, no DVC output).
Two promises are kept here: a resumed run writes what a clean run writes, and no raw text in a
folder that is shared. When the redact settings change, `remask` applies them again to everything
the folder holds, decoding nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from callscribe.fileio import remove_stale_temp_files, write_json
from callscribe.journal import Journal, is_done
from callscribe.outputs import FORMATS, check_writable, output_error, write_transcript
from callscribe.privacy import Masker
from callscribe.records import ERROR, TRANSCRIBED, CallRecord, Transcript
from callscribe.store import KEEP_SETTINGS, Store

MARK = "redaction-settings.json"
# Kept in the private folder, so that it is never an empty DVC output (DVC warns of those on every run).
PRIVATE_NOTE = ("README.txt", "The unredacted transcripts (redact.keep_unredacted: true) are kept here. Never push or share this folder.\n")


class ShardFolder:
    def __init__(self, root: str | Path, formats=("json",), masker: Masker | None = None, private: str | Path | None = None):
        self.root, self.formats, self.masker = Path(root), tuple(formats), masker
        self.journal, self.store = Journal(self.root / "journal.jsonl"), Store(self.root)
        self.private = Path(private) if private is not None else None
        self.keep = masker is not None and masker.settings.keep_unredacted and self.private is not None
        self.private_store = Store(self.private) if self.keep else None

    # ---- reading ----------------------------------------------------------------------------------

    def entries(self) -> dict[str, dict]:
        """The latest journal line per call."""
        return self.journal.entries()

    def done(self, jobs, hashes: set[str]) -> set[str]:
        """The calls whose latest line has the same audio and one of these settings hashes."""
        entries = self.entries()
        return {j.id for j in jobs if is_done(entries.get(j.id), j.sha256, hashes)}

    def transcript(self, entry: dict | None) -> Transcript | None:
        """A call's transcript as written: its JSON, or the store's copy when JSON was not among the formats."""
        if not entry or entry.get("status") not in TRANSCRIBED:
            return None
        if entry.get("json") and (self.root / entry["json"]).exists():
            return Transcript.from_dict(json.loads((self.root / entry["json"]).read_text(encoding="utf-8")))
        kept = self.store.get(entry.get("sha256", ""), entry.get("settings_hash", ""))
        return Transcript.from_dict(kept["transcript"]) if kept and kept.get("transcript") else None

    def transcripts(self, ids=None) -> Iterator[tuple[str, dict | None, Transcript | None]]:
        """(call id, latest line or None, transcript or None), for `ids` (default: every call in the journal)."""
        entries = self.entries()
        for call_id in entries if ids is None else ids:
            entry = entries.get(call_id)
            yield call_id, entry, self.transcript(entry)

    # ---- writing ----------------------------------------------------------------------------------

    def prepare(self, hashes) -> None:
        """Before any work: the folder takes files (a read-only or full one fails now, not after the model
        has loaded), writes cut short by a kill are cleared, and these settings are marked as used now."""
        check_writable(self.root)
        try:
            remove_stale_temp_files(self.root)
            for h in hashes:
                self.store.touch(h)
        except OSError as e:
            raise output_error(self.root, e) from e

    def write(self, job, record: CallRecord, transcript: Transcript | None, original: Transcript | None = None) -> None:
        """A call's outputs (masked), then its journal line, then its store entry. An OSError (full disk,
        read-only) stops the run as `OutputError`: every later call would fail alike."""
        try:
            if transcript is not None:
                try:
                    if self.masker is not None:  # raw text never reaches this folder
                        transcript, original = self.masker.apply(record, transcript, original)
                        self._keep_original(job.id, record.to_dict(), original, store=not record.restored)
                    write_transcript(transcript, self.root / job.id, self.formats)
                    record.json = f"{job.id}.json" if "json" in self.formats else None
                except OSError:
                    raise
                except Exception as e:  # noqa: BLE001 - this call's transcript cannot be written; the others can
                    record.status, record.audio_seconds, record.warnings = ERROR, 0.0, []
                    record.reason = f"writing the transcript of {job.path} failed ({type(e).__name__}: {e}); check the file and report this"
            record.finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            self.journal.append(record.to_dict())
            if not record.restored:  # so that returning to these settings later costs no decoding
                self.store.put(record.to_dict(), transcript.to_dict() if transcript is not None else None)
        except OSError as e:
            raise output_error(self.root, e) from e

    def restore(self, job, previous: dict | None, hashes: set[str]) -> CallRecord | None:
        """Write the call from the store when these settings made it before, and return its record. First,
        the transcript the journal holds for other settings goes into the store (it is about to be
        overwritten), so going back to those costs nothing either, also for outputs made before the store.
        `hashes`: these settings' (one per engine on a Ray cluster whose nodes run different engines)."""
        if previous and previous.get("sha256") == job.sha256 and previous.get("settings_hash") not in hashes:
            if self.store.get(job.sha256, previous["settings_hash"]) is None and (t := self.transcript(previous)) is not None:
                self.store.put(previous, t.to_dict())
                self._keep_stored(previous, self._original(job.id))
        found = next(((h, k) for h, k in ((h, self.store.get(job.sha256, h)) for h in sorted(hashes)) if k is not None), None)
        if found is None:
            return None
        settings_hash, kept = found
        record = CallRecord.from_dict({**kept["record"], "id": job.id, "path": job.path, "restored": True})
        transcript = Transcript.from_dict(kept["transcript"]) if kept["transcript"] is not None else None
        self.write(job, record, transcript, self._stored(job.sha256, settings_hash))
        return record

    def prune(self, keep: int = KEEP_SETTINGS) -> list[str]:
        """The transcripts of the `keep` most recently used settings stay; the private store keeps what the store keeps."""
        removed = self.store.prune(keep)
        if self.keep:
            for folder in self.private_store.settings():
                if not (self.store.root / folder.name).is_dir():
                    shutil.rmtree(folder)
        return removed

    def remask(self) -> int:
        """Drop the originals when they are no longer to be kept, and apply changed redact settings again to
        every transcript here (per-call files and store), decoding nothing. Returns how many calls were masked again."""
        if self.masker is None:
            return 0
        try:
            return self._remask(self.masker)
        except OSError as e:
            raise output_error(self.root, e) from e

    def _remask(self, masker: Masker) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        if not masker.settings.keep_unredacted and self.private is not None and self.private.is_dir():
            for p in self.private.iterdir():  # the folder itself stays, with its note
                if p.name != PRIVATE_NOTE[0]:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
        try:
            if json.loads((self.root / MARK).read_text(encoding="utf-8")).get("signature", "") == masker.signature:
                return 0
        except (OSError, ValueError):
            pass
        used = {f: f.stat().st_mtime for f in self.store.settings()}  # pruning goes by when settings were last used
        n = 0
        for call_id, e, t in self.transcripts():
            if t is None or e.get("redacted") == masker.signature:
                continue
            record = CallRecord.from_dict(e)
            t, original = masker.apply(record, t, self._original(call_id))
            if record.redacted != e.get("redacted"):
                if original is not None:  # raw until now: that is the original
                    self._keep_original(call_id, record.to_dict(), original, store=False)
                stem = self.root / call_id  # every format there is of it, also one this run was not asked for
                write_transcript(t, stem, [*self.formats, *(f for f in FORMATS if f not in self.formats and Path(f"{stem}.{f}").exists())])
                self.journal.append(record.to_dict())  # same audio and settings hash: still done
                self.store.put(record.to_dict(), t.to_dict())
                n += 1
        for path in sorted(self.store.root.glob("*/*.json")):  # earlier settings' transcripts are pushed too
            try:
                kept = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            rec = kept.get("record") or {}
            if kept.get("transcript") is None or rec.get("redacted") == masker.signature:
                continue
            record = CallRecord.from_dict({"id": "", "path": "", **rec})
            t, original = masker.apply(record, Transcript.from_dict(kept["transcript"]), self._stored(rec["sha256"], rec["settings_hash"]))
            if record.redacted != rec.get("redacted"):
                self._keep_stored(record.to_dict(), original)
                self.store.put(record.to_dict(), t.to_dict())
        for folder, mtime in used.items():
            os.utime(folder, (mtime, mtime))
        write_json(self.root / MARK, masker.mark())
        return n

    # ---- the originals, apart ---------------------------------------------------------------------

    def _original(self, call_id: str) -> Transcript | None:
        """The kept original of the call's latest transcript."""
        if not self.keep:
            return None
        try:
            return Transcript.from_dict(json.loads((self.private / f"{call_id}.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def _stored(self, sha256: str, settings_hash: str) -> Transcript | None:
        """The kept original of what these settings made from this audio."""
        kept = self.private_store.get(sha256, settings_hash) if self.keep else None
        return Transcript.from_dict(kept["transcript"]) if kept and kept.get("transcript") else None

    def _keep_original(self, call_id: str, record: dict, original: Transcript | None, store: bool) -> None:
        """Write the original where nothing is pushed from: `<call>.json` (and into the private store
        when the call is new). Not known (made before originals were kept): no stale copy is left."""
        if not self.keep:
            return
        if original is None:
            for fmt in (*self.formats, "rttm"):
                Path(f"{self.private / call_id}.{fmt}").unlink(missing_ok=True)
            return
        write_transcript(original, self.private / call_id, self.formats)
        if store:
            self._keep_stored(record, original)

    def _keep_stored(self, record: dict, original: Transcript | None) -> None:
        if self.keep and original is not None:
            self.private_store.put(record, original.to_dict())


def call_row(entry: dict | None, transcript: Transcript | None, redactions: dict | None = None, more: dict | None = None) -> dict:
    """What became of a call, as the CLI's manifest and the merged calls.jsonl give it; `more`: fields
    that follow the text (merge: the decoder's signals and the confidence)."""
    entry = entry or {}
    row = {"status": entry.get("status"), "reason": entry.get("reason"), "warnings": entry.get("warnings", []),
           "engine": entry.get("engine"), "model": entry.get("model"), "text": transcript.text if transcript else None}
    if redactions is not None:
        row["redactions"] = redactions
    row.update(more or {})
    if transcript is not None and transcript.speakers:
        row["speakers"] = transcript.speakers
    return row
