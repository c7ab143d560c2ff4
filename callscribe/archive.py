"""Safe unpacking of the phone system's zip exports (or plain folders) into data/audio/<archive-stem>/.

Zips come from outside: members with absolute paths, `..`, links or names that would land outside
the target are refused, and size limits stop zip bombs before anything is written.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated

from pydantic import BaseModel, Field

from callscribe.profile import AUDIO_SUFFIXES

JUNK_PARTS = {"__MACOSX", ".DS_Store", "Thumbs.db"}


class ArchiveError(Exception):
    pass


class ExtractParams(BaseModel):
    """`extract:` in params.yaml."""

    archives: list[str] = ["samples/calls_2025-09-01_2025-09-15.zip", "samples/calls_2025-09-16_2025-09-30.zip"]
    max_member_gb: Annotated[int | float, Field(gt=0)] = 2
    max_total_gb: Annotated[int | float, Field(gt=0)] = 200
    max_ratio: Annotated[int | float, Field(gt=1)] = 200

    def limits(self) -> "Limits":
        return Limits(int(self.max_member_gb * 1024**3), int(self.max_total_gb * 1024**3), float(self.max_ratio))


@dataclass
class Limits:
    max_member_bytes: int = 2 * 1024**3  # one WAV (87 min of GSM is ~9 MB; PCM is larger)
    max_total_bytes: int = 200 * 1024**3  # everything unpacked from one archive
    max_ratio: float = 200.0  # uncompressed / compressed for one member: GSM barely compresses


@dataclass
class Report:
    archive: str
    extracted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (member, why)


def safe_member_path(name: str, target: Path) -> Path | None:
    """Where a member may be written under `target`, or None if its name is unsafe."""
    if not name or "\x00" in name or name.startswith(("/", "\\")) or "\\" in name:
        return None
    pure = PurePosixPath(name)
    if pure.is_absolute() or any(part in ("..", "") for part in pure.parts) or ":" in pure.parts[0]:
        return None
    dest = (target / pure).resolve()
    return dest if dest.is_relative_to(target.resolve()) else None


def is_junk(name: str) -> bool:
    """macOS and Windows metadata (`__MACOSX/`, `._call.wav`, `.DS_Store`), never audio."""
    return any(p in JUNK_PARTS or p.startswith("._") for p in PurePosixPath(name).parts)


def _skip_reason(name: str) -> str | None:
    if is_junk(name):
        return "macOS metadata"
    if PurePosixPath(name).suffix.lower() not in AUDIO_SUFFIXES:
        return "not a WAV"
    return None


def extract_zip(zip_path: Path, target: Path, limits: Limits = Limits()) -> Report:
    report = Report(str(zip_path))
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ArchiveError(f"{zip_path}: not a readable zip ({e}); re-download or re-export it") from e
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        total = sum(m.file_size for m in members if _skip_reason(m.filename) is None)
        if total > limits.max_total_bytes:
            raise ArchiveError(
                f"{zip_path}: declares {total / 1e9:.1f} GB of audio, over extract.max_total_gb; "
                "refusing (zip bomb?). Raise the limit if the archive is genuine."
            )
        for m in members:
            why = _skip_reason(m.filename)
            dest = safe_member_path(m.filename, target)
            mode = m.external_attr >> 16
            if dest is None:
                why = "unsafe path (absolute, '..' or outside the target)"
            elif stat.S_ISLNK(mode):
                why = "symbolic link"
            elif m.file_size > limits.max_member_bytes:
                why = f"declares {m.file_size / 1e9:.1f} GB, over extract.max_member_gb"
            elif m.compress_size and m.file_size / m.compress_size > limits.max_ratio:
                why = f"compression ratio {m.file_size / m.compress_size:.0f}:1 (zip bomb?)"
            if why:
                report.skipped.append((m.filename, why))
                continue
            if dest.is_file() and dest.stat().st_size == m.file_size and _crc(dest) == m.CRC:
                report.unchanged.append(m.filename)
                continue
            try:
                _copy_member(zf, m, dest, limits.max_member_bytes)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
                report.skipped.append((m.filename, f"corrupt member ({e})"))
                continue
            except RuntimeError as e:  # zipfile's word for an encrypted member
                report.skipped.append((m.filename, f"encrypted or unreadable member ({e}); export the archive without a password"))
                continue
            except NotImplementedError as e:  # a compression method zipfile lacks (or a damaged method field)
                report.skipped.append((m.filename, f"unsupported member ({e}); re-export the archive with plain deflate"))
                continue
            report.extracted.append(m.filename)
    return report


def _crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _copy_member(zf: zipfile.ZipFile, m: zipfile.ZipInfo, dest: Path, max_bytes: int) -> None:
    """Stream one member to disk, never past `max_bytes` whatever its header claims."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    written = 0
    try:
        with zf.open(m) as src, open(tmp, "wb") as out:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise OSError(f"expands past {max_bytes} bytes")
                out.write(chunk)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def copy_folder(src: Path, target: Path) -> Report:
    """A folder given as an archive: copy its WAVs (links are not followed)."""
    report = Report(str(src))
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src).as_posix()
        if p.is_symlink():
            report.skipped.append((rel, "symbolic link"))
            continue
        if not p.is_file():
            continue
        why = _skip_reason(rel)
        if why:
            report.skipped.append((rel, why))
            continue
        dest = target / rel
        if dest.is_file() and dest.stat().st_size == p.stat().st_size and _crc(dest) == _crc(p):
            report.unchanged.append(rel)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dest)
        report.extracted.append(rel)
    return report


def archive_stem(path: Path) -> str:
    return path.name[: -len(".zip")] if path.name.lower().endswith(".zip") else path.name


def extract(archives: list[str | Path], out_root: str | Path, limits: Limits = Limits()) -> list[Report]:
    """Unpack each archive to out_root/<stem>/ and remove audio no archive holds any more."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    reports, keep = [], set()
    for a in map(Path, archives):
        target = out_root / archive_stem(a)
        if a.is_dir():
            report = copy_folder(a, target)
        elif a.is_file():
            report = extract_zip(a, target, limits)
        else:
            raise ArchiveError(f"{a}: no such zip or folder; fix extract.archives in params.yaml")
        keep |= {(target / name).resolve() for name in report.extracted + report.unchanged}
        reports.append(report)
    for p in out_root.rglob("*"):
        if p.is_file() and p.resolve() not in keep:
            p.unlink()
    return reports
