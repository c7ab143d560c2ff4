"""Conversation measures from the pipeline's words and speakers against the same measures from reference turns.

    python bench/analytics_turns.py [--shared ../shared/data] [--twoparty data/twoparty] [--hyp data/analytics-bench] [--json out.json]

Sets: the three real SpokenWOZ dialogues, as mono GSM mixes (diarized) and as their stereo originals (one
party a channel: overlap is visible); reference RTTM, caller = speaker A, agent = B; reference word counts
from the per-channel texts and the two-party dev set of scripts/make_twoparty.py
(built if missing; RTTM labelled agent/caller; voicemails are one caller). The pipeline's transcripts
(`callscribe transcribe`, default settings) are made once into --hyp and reused.

Each measure (callscribe.analytics.measures, params.yaml defaults) is computed from the reference turns and
from the pipeline's words twice: with the analytics' own agent/caller assignment, and with each pipeline
speaker named for the reference party it overlaps most (oracle roles: the diarization's error alone).
Nothing here was tuned on these calls: every call is reported. Prints mean absolute error per measure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callscribe import params as project_params  # noqa: E402
from callscribe.analytics.measures import Unit, measure, roles, units  # noqa: E402
from callscribe.analytics.params import parse  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MEASURES = ["agent_talk_s", "caller_talk_s", "speech_s", "silence_s", "overtalk_s", "interruptions", "longest_monologue_s",
            "first_agent_word_s", "agent_wpm", "caller_wpm"]


def rttm_units(path: Path, party_of: dict[str, str]) -> list[Unit]:
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            start, dur = float(f[3]), float(f[4])
            out.append(Unit(start, start + dur, party_of.get(f[7], f[7]), 0))
    return out


def flat(call: dict, parties: dict) -> dict:
    row = {k: call[k] for k in ("speech_s", "silence_s", "overtalk_s", "interruptions", "longest_monologue_s", "first_agent_word_s")}
    for party in ("agent", "caller"):
        row[f"{party}_talk_s"] = parties.get(party, {}).get("talk_s", 0.0)
        row[f"{party}_wpm"] = parties.get(party, {}).get("wpm")
    return row


def oracle(items: list[Unit], ref: list[Unit]) -> dict[str, str]:
    """Each pipeline speaker -> the reference party it overlaps most."""
    overlap: dict[tuple[str, str], float] = {}
    for u in items:
        for r in ref:
            o = min(u.end, r.end) - max(u.start, r.start)
            if o > 0:
                overlap[u.party, r.party] = overlap.get((u.party, r.party), 0.0) + o
    out = {}
    for spk in {u.party for u in items}:
        best = max(((o, r) for (s, r), o in overlap.items() if s == spk), default=(0, spk))
        out[spk] = best[1]
    return out


def calls(shared: Path, twoparty: Path):
    """(name, set, audio, rttm, reference party map, reference words per party or None, duration)."""
    woz = shared / "spokenwoz_calls_8k"
    for line in (woz / "manifest.jsonl").read_text().splitlines():
        m = json.loads(line)
        stem = Path(m["audio"]).stem
        caller_text, agent_text = m["channel_texts"]
        words = {"caller": len(caller_text.split()), "agent": len(agent_text.split())}
        party_of = {f"{stem}_A": "caller", f"{stem}_B": "agent"}
        yield stem, "spokenwoz", shared / "gsm8k" / "spokenwoz_calls_8k" / f"{stem}.wav", woz / m["rttm"], party_of, words, m["duration"]
        yield stem, "stereo", woz / m["stereo"], woz / m["rttm"], party_of, words, m["duration"]
    for line in (twoparty / "manifest.jsonl").read_text().splitlines():
        m = json.loads(line)
        yield (Path(m["audio"]).stem, "twoparty", twoparty / m["audio"], twoparty / m["rttm"], {}, None, m["duration"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--twoparty", default=str(REPO / "data" / "twoparty"))
    ap.add_argument("--hyp", default=str(REPO / "data" / "analytics-bench"))
    ap.add_argument("--json")
    args = ap.parse_args()
    shared, twoparty, hyp = Path(args.shared), Path(args.twoparty), Path(args.hyp)
    if not (twoparty / "manifest.jsonl").is_file():
        make = [sys.executable, str(REPO / "scripts" / "make_twoparty.py"), "--shared", str(shared), "--out", str(twoparty)]
        subprocess.run(make, check=True)
    todo = list(calls(shared, twoparty))
    for group, folder, extra in [("spokenwoz", "spokenwoz", []), ("twoparty", "twoparty", []),
                                 ("stereo", "spokenwoz_stereo", ["--channel-names", "caller,agent"])]:
        audio = [str(c[2]) for c in todo if c[1] == group and not (hyp / folder / f"{c[0]}.json").is_file()]
        if audio:
            subprocess.run([sys.executable, "-m", "callscribe.cli", "transcribe", "-o", str(hyp / folder), "--formats", "json", *extra,
                            *audio], check=True, cwd=REPO)
    p = parse(project_params.load(REPO / "params.yaml").get("analytics"))
    rows = []
    for name, group, _, rttm, party_of, ref_words, duration in todo:
        transcript = json.loads((hyp / ("spokenwoz_stereo" if group == "stereo" else group) / f"{name}.json").read_text())
        ref = rttm_units(rttm, party_of)
        if ref_words:  # spread each party's reference words over its turns by length, for words per minute
            for party, n in ref_words.items():
                mine = [u for u in ref if u.party == party]
                total = sum(u.end - u.start for u in mine) or 1
                for u in mine:
                    u.words = n * (u.end - u.start) / total
        raw = units(transcript)
        named = roles(transcript)
        auto = [Unit(u.start, u.end, named.get(u.party, u.party), u.words) for u in raw]
        truth = oracle(raw, ref)
        orc = [Unit(u.start, u.end, truth[u.party], u.words) for u in raw]
        r = flat(*measure(ref, duration, p))
        if not ref_words:
            r["agent_wpm"] = r["caller_wpm"] = None
        ref_agent = max({u.party for u in ref}, key=lambda s: s == "agent")
        rows.append({"call": name, "set": group, "ref": r, "auto": flat(*measure(auto, duration, p)),
                     "oracle": flat(*measure(orc, duration, p)),
                     "roles_right": all(named.get(s) == truth.get(s) for s in truth if truth[s] in ("agent", "caller")),
                     "ref_has_agent": ref_agent == "agent"})
    res = {"calls": len(rows), "per_call": rows, "mae": {}}
    for title, sets in [("mono, diarized: SpokenWOZ mixes and the two-party set", ("spokenwoz", "twoparty")),
                        ("stereo, one party a channel: SpokenWOZ originals", ("stereo",))]:
        mine = [r for r in rows if r["set"] in sets]
        print(f"\n{title}: {len(mine)} calls, agent and caller named right on {sum(r['roles_right'] for r in mine)}")
        res["mae"][sets[0]] = table(mine)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


def table(rows: list[dict]) -> dict:
    out = {}
    print(f"{'measure':<22}{'reference median':>18}{'MAE, roles auto':>18}{'MAE, roles oracle':>19}{'calls':>7}")
    for m in MEASURES:
        pairs = [(r["ref"][m], r["auto"][m], r["oracle"][m]) for r in rows if r["ref"][m] is not None]
        pairs = [x for x in pairs if x[1] is not None and x[2] is not None]
        if not pairs:
            continue
        med = statistics.median(x[0] for x in pairs)
        auto = statistics.mean(abs(a - x) for x, a, _ in pairs)
        orc = statistics.mean(abs(o - x) for x, _, o in pairs)
        out[m] = {"reference_median": round(med, 2), "mae_auto": round(auto, 2), "mae_oracle": round(orc, 2), "calls": len(pairs)}
        print(f"{m:<22}{med:>18.2f}{auto:>18.2f}{orc:>19.2f}{len(pairs):>7}")
    return out


if __name__ == "__main__":
    sys.exit(main())
