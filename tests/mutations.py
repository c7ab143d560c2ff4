"""Hypothesis strategies that damage real WAVs and zips the way exports get damaged.

A mutation is drawn as plain data (a tuple saying what to change), so a failing case prints as
something a person can read and paste into an `@example`; `apply` turns it into bytes.
"""

from __future__ import annotations

import struct
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import strategies as st

from callscribe.audio import load_audio
from tests.badfiles import JFK
from tests.helpers import find_sample

# Tags worth trying: every supported one, ones phone systems write, and nonsense.
TAGS = [0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0x0031, 0x0000, 0x0055, 0x0133, 0x1234, 0xFFFE, 0xFFFF]
EDGES = [0, 1, 2, 3, 7, 8, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
# field -> (chunk, offset in its payload, bytes); RIFF's own size is at file offset 4.
FIELDS = {"tag": ("fmt ", 0, 2), "channels": ("fmt ", 2, 2), "rate": ("fmt ", 4, 4), "byte_rate": ("fmt ", 8, 4),
          "block_align": ("fmt ", 12, 2), "bits": ("fmt ", 14, 2), "fmt_extra": ("fmt ", 16, 2), "fmt_size": ("fmt ", -4, 4),
          "data_size": ("data", -4, 4), "fact_samples": ("fact", 0, 4), "riff_size": (None, 4, 4)}
BASES = ["gsm.wav", "pcm16.wav", "ulaw.wav", "ima.wav", "msadpcm.wav", "float stereo.wav", "pcm8.wav", "wavex.wav"]


class Bases(dict):
    def __repr__(self) -> str:  # Hypothesis prints its arguments on a failure: names, not megabytes
        return f"Bases({sorted(self)})"


def make_bases(folder: Path, sample_audio: Path) -> dict[str, bytes]:
    """Two seconds of the JFK call in each codec the fuzzing starts from."""
    folder.mkdir(parents=True, exist_ok=True)
    speech = load_audio(find_sample(sample_audio, JFK), 8000)[0][8000 * 3 : 8000 * 5]
    for name, subtype, audio, fmt in [("gsm.wav", "GSM610", speech, "WAV"), ("pcm16.wav", "PCM_16", speech, "WAV"),
                                      ("ulaw.wav", "ULAW", speech, "WAV"), ("ima.wav", "IMA_ADPCM", speech, "WAV"),
                                      ("msadpcm.wav", "MS_ADPCM", speech, "WAV"), ("pcm8.wav", "PCM_U8", speech, "WAV"),
                                      ("float stereo.wav", "FLOAT", np.stack([speech, 0.5 * speech], 1), "WAV"),
                                      ("wavex.wav", "PCM_16", speech, "WAVEX")]:
        sf.write(folder / name, audio, 8000, subtype=subtype, format=fmt)
    return Bases({name: (folder / name).read_bytes() for name in BASES})


def chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, offset of the chunk header, declared size) for each chunk of a RIFF file, as far as it parses."""
    out, at = [], 12
    while at + 8 <= len(data) and len(out) < 64:
        cid, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        out.append((cid, at, size))
        at += 8 + size + size % 2
    return out


# --- what a mutation is: a tuple -----------------------------------------------------------

field_mutation = st.tuples(st.just("field"), st.sampled_from(sorted(FIELDS)),
                           st.one_of(st.sampled_from(EDGES + TAGS), st.integers(0, 0xFFFFFFFF)))
# Cut at a chunk boundary: k-th chunk, at its header, inside its header, just after, or 1 byte into/before its end.
truncation = st.tuples(st.just("truncate"), st.integers(0, 6), st.sampled_from([0, 4, 8, 9, "mid", "end-1"]))
random_bytes = st.tuples(st.just("bytes"), st.floats(0, 1), st.binary(min_size=1, max_size=64))
reorder = st.tuples(st.just("reorder"), st.permutations(range(6)))
huge = st.tuples(st.just("huge"), st.sampled_from(["fmt ", "data", "fact", "riff"]), st.sampled_from([0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFF0]))
zero_data = st.tuples(st.just("zero_data"), st.booleans())
extra_chunk = st.tuples(st.just("insert"), st.integers(0, 4), st.binary(min_size=4, max_size=4), st.binary(max_size=33))
all_random = st.tuples(st.just("noise"), st.binary(min_size=0, max_size=600))
mutation = st.one_of(field_mutation, truncation, random_bytes, reorder, huge, zero_data, extra_chunk, all_random)
damaged_wav = st.tuples(st.sampled_from(BASES), st.lists(mutation, min_size=1, max_size=3))


def apply(data: bytes, m: tuple) -> bytes:
    kind, *args = m
    cs = chunks(data)
    find = {cid.decode("latin-1"): (at, size) for cid, at, size in reversed(cs)}
    if kind == "field":
        chunk, offset, n = FIELDS[args[0]]
        if chunk is None:
            at = offset
        elif chunk not in find:
            return data
        else:
            at = find[chunk][0] + 8 + offset
        return _put(data, at, n, args[1])
    if kind == "truncate":
        if not cs:
            return data[: len(data) // 2]
        _, at, size = cs[min(args[0], len(cs) - 1)]
        cut = {"mid": at + 8 + size // 2, "end-1": at + 8 + size - 1}.get(args[1], at + args[1] if isinstance(args[1], int) else at)
        return data[: max(0, cut)]
    if kind == "bytes":
        at = int(args[0] * len(data))
        return data[:at] + args[1] + data[at + len(args[1]) :]
    if kind == "reorder":
        parts = [data[at : at + 8 + size + size % 2] for _, at, size in cs]
        order = [i for i in args[0] if i < len(parts)]
        return data[:12] + b"".join(parts[i] for i in order) + data[(cs[-1][1] + 8 + cs[-1][2] + cs[-1][2] % 2) if cs else 12 :]
    if kind == "huge":
        if args[0] == "riff":
            return _put(data, 4, 4, args[1])
        return _put(data, find[args[0]][0] + 4, 4, args[1]) if args[0] in find else data
    if kind == "zero_data":
        if "data" not in find:
            return data
        at = find["data"][0]
        out = _put(data, at + 4, 4, 0)
        return out[: at + 8] if args[0] else out  # the payload dropped, or left there with size 0
    if kind == "insert":
        at = cs[min(args[0], len(cs) - 1)][1] if cs else 12
        body = args[2]
        return data[:at] + args[1] + struct.pack("<I", len(body)) + body + b"\0" * (len(body) % 2) + data[at:]
    if kind == "noise":
        return args[0]
    raise ValueError(kind)


def _put(data: bytes, at: int, n: int, value: int) -> bytes:
    if at < 0 or at + n > len(data):
        return data
    return data[:at] + (value & (256**n - 1)).to_bytes(n, "little") + data[at + n :]


def damage(bases: dict[str, bytes], case: tuple) -> bytes:
    base, mutations = case
    data = bases[base]
    for m in mutations:
        data = apply(data, m)
    return data


# --- zips -------------------------------------------------------------------------------------

def make_zip(bases: dict[str, bytes]) -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("recordings/q-300-+13365550100-20250905-101500-1757067300.1.WAV", bases["gsm.wav"], zipfile.ZIP_DEFLATED)
        z.writestr("recordings/pcm.wav", bases["pcm16.wav"], zipfile.ZIP_DEFLATED)
        z.writestr("recordings/ulaw.wav", bases["ulaw.wav"], zipfile.ZIP_STORED)
    return buf.getvalue()


def zip_records(data: bytes) -> list[int]:
    """Offsets of local headers, central directory entries and the end record: the boundaries a cut hits."""
    return sorted(i for sig in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06") for i in _all(data, sig))


def _all(data: bytes, sig: bytes):
    at = data.find(sig)
    while at >= 0:
        yield at
        at = data.find(sig, at + 1)


# Fields of a local header (offset from its start, bytes): flags (bit 0: encrypted), method, CRC, sizes, name length.
ZIP_FIELDS = {"flags": (6, 2), "method": (8, 2), "crc": (14, 4), "compressed": (18, 4), "size": (22, 4), "name_len": (26, 2),
              "extra_len": (28, 2)}
# The same in a central directory entry, plus the local header's offset.
CD_FIELDS = {"flags": (8, 2), "method": (10, 2), "crc": (16, 4), "compressed": (20, 4), "size": (24, 4), "name_len": (28, 2),
             "offset": (42, 4)}
zip_mutation = st.one_of(
    st.tuples(st.just("cut"), st.integers(0, 12), st.integers(-2, 40)),
    st.tuples(st.just("local"), st.integers(0, 2), st.sampled_from(sorted(ZIP_FIELDS)), st.sampled_from(EDGES + [1, 8, 9, 12, 14, 99])),
    st.tuples(st.just("central"), st.integers(0, 2), st.sampled_from(sorted(CD_FIELDS)), st.sampled_from(EDGES + [1, 8, 9, 12, 14, 99])),
    st.tuples(st.just("bytes"), st.floats(0, 1), st.binary(min_size=1, max_size=32)),
)


def damage_zip(data: bytes, mutations: list[tuple]) -> bytes:
    for kind, *args in mutations:
        if kind == "cut":
            marks = zip_records(data)
            data = data[: max(0, (marks[args[0] % len(marks)] if marks else 0) + args[1])]
        elif kind in ("local", "central"):
            heads = list(_all(data, b"PK\x03\x04" if kind == "local" else b"PK\x01\x02"))
            if heads:
                offset, n = (ZIP_FIELDS if kind == "local" else CD_FIELDS)[args[1]]
                data = _put(data, heads[args[0] % len(heads)] + offset, n, args[2])
        else:
            at = int(args[0] * len(data))
            data = data[:at] + args[1] + data[at + len(args[1]) :]
    return data
