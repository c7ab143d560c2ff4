#!/usr/bin/env python3
"""Build callscribe's committed sample archive (samples/) from ../shared/data.

Simulates the phone system's zip exports: GSM 6.10 ("GSM-MS") 8 kHz mono WAVs named
``q-<queue>-<caller E.164>-<YYYYMMDD>-<HHMMSS local>-<unix epoch>.<4 digits>.WAV``
(local time is US Eastern; every date here is in September 2025, i.e. EDT = UTC-4).

All speech is real (public-domain / permissive sources, see samples/README.md), passed
through a simulated telephone channel with

    sox -R IN -r 8000 -c 1 -e gsm-full-rate OUT.wav sinc 300-3400

(``-R`` = sox's repeatable mode, fixing the dither seed so re-runs give identical bytes).

Usage:  python scripts/make_samples.py [--shared ../shared/data] [--out samples]
Needs:  sox (with GSM support), numpy, soundfile.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
EDT = dt.timezone(dt.timedelta(hours=-4))  # all sample dates are in Sept (EDT)
SEED = 20250901
SOX_TEL = ["-r", "8000", "-c", "1", "-e", "gsm-full-rate"]  # + "sinc 300-3400" effect

ZIPS = {
    "calls_2025-09-01_2025-09-15": (dt.date(2025, 9, 1), dt.date(2025, 9, 15)),
    "calls_2025-09-16_2025-09-30": (dt.date(2025, 9, 16), dt.date(2025, 9, 30)),
}
NESTED_DAY = dt.date(2025, 9, 20)  # zip 2 stores this day under recordings/2025-09-20/

# Standalone speech calls: (shared folder, manifest audio path)
LJ_SINGLE = ["LJ001-0005", "LJ001-0015", "LJ001-0019", "LJ001-0031", "LJ001-0035",
             "LJ001-0039", "LJ001-0043", "LJ001-0051", "LJ001-0063", "LJ001-0071",
             "LJ001-0080", "LJ001-0084", "LJ001-0142", "LJ001-0146", "LJ001-0158",
             "LJ001-0167", "LJ001-0177", "LJ001-0186", "LJ001-0023"]
PS = "ps_librivox_sense_and_sensibility_01_austen_64kb-0{}.flac"
SMOKE_SINGLE = ["jfk.flac", PS.format("920"), PS.format("930")]
VOICEMAIL_LJ = "LJ001-0126"
# Two-speaker call: alternating turns, speaker A = LJ (female reader), B = LibriVox reader (male)
TWO_SPK_TURNS = [("A", "lj", "LJ001-0010"), ("B", "smoke", PS.format("870")),
                 ("A", "lj", "LJ001-0150"), ("B", "smoke", PS.format("880")),
                 ("A", "lj", "LJ001-0154"), ("B", "smoke", PS.format("890"))]
SPK_LABEL = {"A": "spk_A", "B": "spk_B"}
AREA_CODES = ["336", "336", "336", "919", "704", "910", "828", "252"]


def load_manifest(folder: Path) -> dict[str, dict]:
    out = {}
    with open(folder / "manifest.jsonl") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                out[d["audio"]] = d
    return out


def sox(*args: str) -> None:
    subprocess.run(["sox", "-R", *args], check=True)


def tel(src: Path, dst: Path, *extra: str) -> None:
    """Exactly the telephone-channel recipe (GSM 6.10, 8 kHz mono, 300-3400 Hz)."""
    sox(str(src), *SOX_TEL, str(dst), "sinc", "300-3400", *extra)


def info(path: Path) -> tuple[float, int, int]:
    """(duration per the WAV's fact chunk / data size, as soxi reports it; channels; bytes).

    libsndfile (soundfile) ignores the GSM fact chunk and decodes the last, padded 40 ms
    frame too, so it reports up to 40 ms more than this."""
    i = sf.info(str(path))
    r = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True)
    dur = float(r.stdout) if r.returncode == 0 and r.stdout.strip() else 0.0
    return dur, i.channels, path.stat().st_size


def trim_silence(x: np.ndarray, sr: int, pad: float = 0.05) -> np.ndarray:
    fr = int(0.02 * sr)
    n = len(x) // fr
    e = 10 * np.log10((x[: n * fr].reshape(n, fr) ** 2).mean(1) + 1e-12)
    thr = max(e.max() - 35, np.percentile(e, 10) + 10)  # above peak-35 dB and noise floor+10 dB
    act = np.where(e > thr)[0]
    a = max(0, act[0] * fr - int(pad * sr))
    b = min(len(x), (act[-1] + 1) * fr + int(pad * sr))
    return x[a:b]


def active_rms(x: np.ndarray, sr: int) -> float:
    fr = int(0.02 * sr)
    n = len(x) // fr
    p = (x[: n * fr].reshape(n, fr) ** 2).mean(1)
    p = p[10 * np.log10(p + 1e-12) > 10 * np.log10(p.max() + 1e-12) - 30]
    return float(np.sqrt(p.mean()))


def resample(x: np.ndarray, sr: int, to: int) -> np.ndarray:
    if sr == to:
        return x
    import soxr
    return soxr.resample(x, sr, to, quality="VHQ")


def build_two_speaker(lj: Path, smoke: Path, ljm: dict, smm: dict, wav16: Path, rng: random.Random):
    sr = 16000
    target = 10 ** (-22 / 20)  # level-match every turn to -22 dBFS active RMS
    pieces, turns, texts, sources = [], [], [], []
    t = 0.6  # lead-in (caller connected, nobody talking yet)
    pieces.append(np.zeros(int(t * sr)))
    for k, (spk, folder, key) in enumerate(TWO_SPK_TURNS):
        if folder == "lj":
            m = ljm[f"wav/{key}.flac"]
            path = lj / m["audio"]
        else:
            m = smm[key]
            path = smoke / m["audio"]
        x, fsr = sf.read(str(path), dtype="float64", always_2d=True)
        x = resample(x.mean(1), fsr, sr)
        x = trim_silence(x, sr)
        x = x * (target / active_rms(x, sr))
        if k:
            # a quick exchange before the short turn, otherwise 0.4-0.8 s
            gap = 0.4 if k == 3 else round(rng.uniform(0.4, 0.8), 2)
            pieces.append(np.zeros(int(round(gap * sr))))
            t += gap
        dur = len(x) / sr
        turns.append((round(t, 3), round(dur, 3), SPK_LABEL[spk]))
        pieces.append(x)
        t += dur
        texts.append(m["text"])
        sources.append({"speaker": SPK_LABEL[spk], "source": m["source"], "license": m["license"],
                        "shared": f"{'lj_read_22k' if folder == 'lj' else 'smoke_misc'}/{m['audio']}"})
    pieces.append(np.zeros(int(0.8 * sr)))
    y = np.concatenate(pieces)
    assert np.abs(y).max() < 1.0
    sf.write(str(wav16), y, sr, subtype="PCM_16")
    return turns, " ".join(texts), sources


def appledouble() -> bytes:
    # Minimal AppleDouble header (magic 0x00051607, v2, 1 entry: Finder info, 32 bytes)
    hdr = bytes.fromhex("00051607") + bytes.fromhex("00020000") + b"Mac OS X        "
    hdr += (1).to_bytes(2, "big")
    hdr += (9).to_bytes(4, "big") + (38).to_bytes(4, "big") + (32).to_bytes(4, "big")
    return hdr + b"WAVEsox " + bytes(24)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "samples")
    a = ap.parse_args()
    if not shutil.which("sox"):
        sys.exit("sox not found")
    shared, out = a.shared.resolve(), a.out.resolve()
    lj, smoke = shared / "lj_read_22k", shared / "smoke_misc"
    gsm_long = shared / "gsm8k" / "lj_longform_5min_22k"
    ljm, smm, longm = load_manifest(lj), load_manifest(smoke), load_manifest(gsm_long)
    rng = random.Random(SEED)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rttm").mkdir(exist_ok=True)
    for old in list(out.glob("calls_*.zip")) + list((out / "rttm").glob("*.rttm")):
        old.unlink()

    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        items = []  # dict(kind, wav, label-or-None, note, zip)

        def add(kind, wav, text=None, zipi=None, **lab):
            items.append({"kind": kind, "wav": wav, "text": text, "zip": zipi, "lab": lab})

        # --- standalone speech calls
        for key in LJ_SINGLE:
            m = ljm[f"wav/{key}.flac"]
            w = tmp / f"{key}.wav"
            tel(lj / m["audio"], w)
            add("speech", w, m["text"], source=m["source"], license=m["license"],
                shared=f"lj_read_22k/{m['audio']}")
        for key in SMOKE_SINGLE:
            m = smm[key]
            w = tmp / f"{Path(key).stem}.wav"
            tel(smoke / m["audio"], w)
            add("speech", w, m["text"], source=m["source"], license=m["license"],
                shared=f"smoke_misc/{m['audio']}")
        # --- long call: shortest GSM long-form part, bytes copied as-is
        lm = min(longm.values(), key=lambda d: d["duration"])
        w = tmp / "long.wav"
        shutil.copyfile(gsm_long / lm["audio"], w)
        add("long", w, lm["text"], zipi=1, source=f"{lm['orig_source']} ({lm['source']})",
            license=f"{lm['license']} (LJ Speech 1.1 / LibriVox)",
            shared=f"gsm8k/lj_longform_5min_22k/{lm['audio']}", clip_ids=lm["clip_ids"])
        # --- header-only (no data frames): 60 bytes
        w = tmp / "empty.wav"
        sox("-n", *SOX_TEL, str(w), "trim", "0", "0")
        assert w.stat().st_size == 60, w.stat().st_size
        add("empty", w, None, zipi=0)
        # --- tiny (<1 KB): the word "ten" cut from PocketSphinx cards/001 ("ten of clubs")
        m = smm["ps_cards_001.flac"]
        w = tmp / "tiny.wav"
        tel(smoke / m["audio"], w, "trim", "0.16", "0.28")
        assert w.stat().st_size < 1024
        add("tiny", w, "ten", zipi=0, source=m["source"] + " (0.16-0.44 s)", license=m["license"],
            shared=f"smoke_misc/{m['audio']}",
            note="0.28 s fragment of 'ten of clubs'; only the word 'ten'")
        # --- silent: 15 s digital silence
        w = tmp / "silent.wav"
        sox("-n", *SOX_TEL, str(w), "trim", "0", "15")
        add("silent", w, "", zipi=0, source="generated: 15 s digital silence (sox -n)",
            license="CC0 (generated)", note="no speech expected")
        # --- stereo: 8 kHz 16-bit PCM, one speaker per channel (GSM cannot be stereo)
        m = smm["stereo_diarization.flac"]
        w = tmp / "stereo.wav"
        sox(str(smoke / m["audio"]), "-r", "8000", "-c", "2", "-e", "signed-integer", "-b", "16",
            str(w), "sinc", "300-3400")
        ct = m["channel_texts"]
        add("stereo", w, f"{ct['left']} {ct['right']}", zipi=1, source=m["source"],
            license=m["license"], shared=f"smoke_misc/{m['audio']}",
            channel_texts={"left": ct["left"], "right": ct["right"]})
        # --- two-speaker call
        w16 = tmp / "two16k.wav"
        turns, text2, src2 = build_two_speaker(lj, smoke, ljm, smm, w16, rng)
        w = tmp / "twospk.wav"
        tel(w16, w)
        add("two_speaker", w, text2, zipi=1,
            source="derived: turns from " + "; ".join(s["shared"] for s in src2),
            license="public domain (LJ Speech 1.1) + BSD-2 (CMU Sphinx test data)",
            speakers={s["speaker"]: s["source"] for s in src2}, turns=turns)
        # --- voicemail greeting: lower-case .wav, name outside the pattern (speech)
        m = ljm[f"wav/{VOICEMAIL_LJ}.flac"]
        w = tmp / "voicemail.wav"
        tel(lj / m["audio"], w)
        add("nonpattern", w, m["text"], zipi=0, source=m["source"], license=m["license"],
            shared=f"lj_read_22k/{m['audio']}")

        # --- spread the standalone speech calls over the two zips, alternating
        k = 0
        for it in items:
            if it["zip"] is None:
                it["zip"] = k % 2
                k += 1

        # --- names: q-<queue>-<+1NXX555 01XX>-<YYYYMMDD>-<HHMMSS>-<epoch>.<4 digits>.WAV
        zipnames = list(ZIPS)
        used = set()
        members: dict[str, list] = {z: [] for z in zipnames}
        labels = []
        for it in items:
            zname = zipnames[it["zip"]]
            d0, d1 = ZIPS[zname]
            if it["kind"] == "nonpattern":
                name, local = "voicemail greeting.wav", dt.datetime(2025, 9, 2, 7, 58, 11)
            else:
                while True:
                    day = d0 + dt.timedelta(days=rng.randrange((d1 - d0).days + 1))
                    if it["zip"] == 1 and it["kind"] in ("stereo", "two_speaker"):
                        day = NESTED_DAY  # put some calls in the nested day folder
                    local = dt.datetime.combine(day, dt.time(rng.randint(8, 17), rng.randrange(60),
                                                             rng.randrange(60)))
                    caller = f"+1{rng.choice(AREA_CODES)}55501{rng.randrange(100):02d}"
                    queue = rng.choice([300, 300, 301, 410])
                    epoch = int(local.replace(tzinfo=EDT).timestamp())
                    name = (f"q-{queue}-{caller}-{local:%Y%m%d}-{local:%H%M%S}-{epoch}."
                            f"{rng.randrange(10000):04d}.WAV")
                    if name not in used:
                        used.add(name)
                        break
            folder = "recordings/"
            if it["zip"] == 1 and local.date() == NESTED_DAY:
                folder = f"recordings/{NESTED_DAY.isoformat()}/"
            dur, ch, size = info(it["wav"])
            it.update(name=name, member=folder + name, local=local, dur=dur, ch=ch, size=size)
            members[zname].append(it)
            if it["text"] is not None:
                lab = {"file": name, "archive": zname, "text": it["text"]}
                lab.update(it["lab"])
                lab.pop("turns", None)
                lab["member"] = it["member"]
                lab["duration"] = round(dur, 3)
                if it["kind"] == "two_speaker":
                    lab["rttm"] = f"rttm/{Path(name).stem}.rttm"
                labels.append(lab)
            if it["kind"] == "two_speaker":
                uri = Path(name).stem
                with open(out / "rttm" / f"{uri}.rttm", "w") as fh:
                    for st, du, spk in it["lab"]["turns"]:
                        fh.write(f"SPEAKER {uri} 1 {st:.3f} {du:.3f} <NA> <NA> {spk} <NA> <NA>\n")

        # --- write the zips (members in call-time order, fixed timestamps/attrs)
        for zi, zname in enumerate(zipnames):
            its = sorted(members[zname], key=lambda i: (i["local"], i["name"]))
            zpath = out / f"{zname}.zip"
            with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
                def put(arc, data, when):
                    zi_ = zipfile.ZipInfo(arc, date_time=when.timetuple()[:6])
                    zi_.compress_type = zipfile.ZIP_DEFLATED
                    zi_.external_attr = 0o644 << 16
                    zi_.create_system = 3
                    zf.writestr(zi_, data)
                for it in its:
                    end = it["local"] + dt.timedelta(seconds=int(it["dur"]) + 1)
                    put(it["member"], it["wav"].read_bytes(), end)
                if zi == 0:
                    first = its[1] if its[0]["kind"] == "nonpattern" else its[0]
                    put(f"__MACOSX/recordings/._{first['name']}", appledouble(),
                        dt.datetime(2025, 9, 16, 6, 0, 2))
                    log = ["export started 2025-09-16 06:00:00 EDT range=2025-09-01..2025-09-15"]
                    log += [f"OK {i['member']} {i['size']} bytes" for i in its]
                    log += [f"export finished: {len(its)} recordings"]
                    put("recordings/export_log.txt", "\r\n".join(log) + "\r\n",
                        dt.datetime(2025, 9, 16, 6, 0, 3))

    with open(out / "labels.jsonl", "w") as fh:
        for lab in sorted(labels, key=lambda d: (d["archive"], d["member"])):
            fh.write(json.dumps(lab, ensure_ascii=False) + "\n")
    write_readme(out, members)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total/1e6:.2f} MB)")
    for zname, its in members.items():
        print(zname)
        for it in sorted(its, key=lambda i: i["member"]):
            print(f"  {it['kind']:11s} {it['dur']:7.2f}s {it['ch']}ch {it['size']:7d}B  {it['member']}")
    return 0


KIND_DESC = {
    "speech": "single-speaker speech",
    "long": "long call (several minutes, GSM bytes copied from shared gsm8k long-form)",
    "empty": "header-only WAV, 60 bytes, zero data frames (phone system's empty call)",
    "tiny": "tiny file < 1 KB (0.28 s cut, 0.32 s after GSM framing; the word \"ten\")",
    "silent": "15 s silence: digital-zero input, GSM-coded (sox dither, about -74 dBFS); expect no transcript",
    "stereo": "stereo 8 kHz 16-bit PCM, one speaker per channel (not GSM)",
    "two_speaker": "two-speaker call, alternating turns; reference turns in rttm/",
    "nonpattern": "name does not match the pattern, lower-case .wav (speech)",
}


def write_readme(out: Path, members: dict) -> None:
    L = ["# callscribe sample archive", "",
         "Small, committed stand-in for the phone system's zip exports, for tests and the DVC",
         "pipeline's smoke runs. **Generated** by `scripts/make_samples.py`; do not edit by hand.", "",
         "None of this is a real phone call: it is real read speech (audiobooks, a speech) passed",
         "through a simulated telephone channel (`sox IN -r 8000 -c 1 -e gsm-full-rate OUT.wav sinc 300-3400`,",
         "i.e. 300-3400 Hz band-limit, 8 kHz, GSM 6.10 \"GSM-MS\" WAV). Caller numbers are fictional",
         "(555-01XX). File names follow the export pattern",
         "`q-<queue>-<caller E.164>-<YYYYMMDD>-<HHMMSS US Eastern>-<unix epoch UTC>.<4 digits>.WAV`.", "",
         "## Files", "",
         "- `calls_2025-09-01_2025-09-15.zip`, `calls_2025-09-16_2025-09-30.zip`: the two exports.",
         "- `labels.jsonl`: one line per file with speech (and the silent one, `text: \"\"`):",
         "  `file` (member basename), `archive` (zip stem), `member` (path in zip), `text` (reference),",
         "  `source`, `license`, `duration`; the stereo file also has `channel_texts`, the two-speaker",
         "  call `speakers` and `rttm`. The header-only file has no line (no audio).",
         "- `rttm/<wav stem>.rttm`: reference speaker turns of the two-speaker call (RTTM, no UEM: score",
         "  the whole file).", "",
         "Junk the extractor must skip (first zip): `__MACOSX/recordings/._<name>.WAV` (AppleDouble)",
         "and `recordings/export_log.txt`. `recordings/voicemail greeting.wav` is speech but its name",
         "does not match the pattern. The second zip nests one day under `recordings/2025-09-20/`.", ""]
    for zname, its in members.items():
        L += [f"### {zname}.zip", "", "| member | what | dur (s) | bytes | source |", "|---|---|---|---|---|"]
        for it in sorted(its, key=lambda i: i["member"]):
            src = it["lab"].get("shared", it["lab"].get("source", "generated"))
            if it["kind"] == "two_speaker":
                src = "LJ Speech (spk_A) + PocketSphinx LibriVox (spk_B), see labels.jsonl"
            L.append(f"| `{it['member']}` | {KIND_DESC[it['kind']]} | {it['dur']:.2f} | {it['size']} | {src} |")
        L.append("")
    L += ["## Sources and licences (attribution)", "",
          "Copied/derived from `../shared/data` (see its README; each label's `source` names the exact file):", "",
          "- **LJ Speech 1.1** (Keith Ito, 2017; LibriVox recordings), chapter LJ001 — public domain.",
          "  Used for the single-speaker calls, the long call (`gsm8k/lj_longform_5min_22k`, consecutive",
          "  clips joined with 0.25 s gaps), the voicemail greeting and speaker A of the two-speaker call.",
          "- **jfk.flac** from SYSTRAN/faster-whisper's test data (repo MIT; the speech, J. F. Kennedy's",
          "  1961 inaugural address, is a US-government public-domain work).",
          "- **CMU PocketSphinx test data** (Debian package pocketsphinx-testdata; BSD-2-Clause, Carnegie",
          "  Mellon University): LibriVox *Sense and Sensibility* clips (0870-0930; single calls and speaker B",
          "  of the two-speaker call) and `cards/001` (the tiny file).",
          "- **stereo_diarization** from SYSTRAN/faster-whisper's test data (MIT; speech from LibriSpeech,",
          "  CC BY 4.0, Panayotov et al. 2015).",
          "- Silence and the header-only file are generated.", "",
          "The Free Spoken Digit Dataset (CC BY-SA) is deliberately not used here.", "",
          "## Rebuild", "",
          "```sh", "python scripts/make_samples.py            # --shared ../shared/data --out samples",
          "```", "",
          "Needs `sox` with GSM support (e.g. Debian `sox libsox-fmt-all`), numpy, soundfile and soxr, and",
          "the shared data at `../shared/data`. The build is deterministic (fixed seed, `sox -R`, fixed",
          "zip timestamps), so a re-run reproduces identical bytes with the same sox version.", ""]
    (out / "README.md").write_text("\n".join(L))


if __name__ == "__main__":
    sys.exit(main())
