"""The faster-whisper engine alone on real calls: pieces decoded one by one (`batch_size: 1`) against
lock-step batches (callscribe/engines/whisper_batch.py), one thread, in one process, one after the other.

Prints per run the CPU-seconds per audio second, the share of model time in encode / generate / align,
and whether each piece's text and word times equal the one-by-one run's; WER and deletions against
the references. Each call is cut at pauses into pieces of at most --piece-minutes, as the transcribe
stage cuts it.

    python bench/lockstep.py --batch 1 4 8                      # the tuning half's files (bench/archive_set.py)
    python bench/lockstep.py --files A.wav B.wav --batch 1 4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from callscribe.audio import SAMPLE_RATE, cut_at_pauses, load_audio, to_mono  # noqa: E402
from callscribe.engines import load_engine  # noqa: E402
from callscribe.evaluate import score  # noqa: E402
from callscribe.settings import TranscribeSettings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", nargs="*", help="audio files (default: the archive-shaped set's --half)")
    ap.add_argument("--half", choices=["tuning", "check"], default="tuning")
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 4, 8], help="batch sizes; the first is the reference run")
    ap.add_argument("--piece-minutes", type=float, default=5.0, help="transcribe.max_chunk_minutes")
    ap.add_argument("--threads", type=int, default=1, help="transcribe.cpu_threads")
    args = ap.parse_args()
    if args.files:
        pairs = [(f, "") for f in args.files]
    else:
        from archive_set import build
        from throughput import SHARED

        pairs = [(p, t) for p, t, _ in build(SHARED, args.half)]
    pieces, owner = [], []
    for k, (path, _) in enumerate(pairs):
        mono = to_mono(load_audio(path))
        for a, b in cut_at_pauses(mono, args.piece_minutes * 60):
            pieces.append(mono[a:b])
            owner.append(k)
    audio_s = sum(len(p) for p in pieces) / SAMPLE_RATE
    print(f"{len(pairs)} calls, {len(pieces)} pieces, {audio_s / 60:.1f} min, {args.threads} thread(s)", flush=True)
    engine = load_engine(TranscribeSettings(engine="faster-whisper", batch_size=1, cpu_threads=args.threads).resolved())
    timed, first = engine._model.model, None
    for batch in args.batch:
        settings = TranscribeSettings(engine="faster-whisper", batch_size=batch, cpu_threads=args.threads).resolved()
        before, calls0, cpu0 = dict(timed.by_method), dict(timed.calls), time.process_time()
        decoded = engine.transcribe_many(pieces, settings)
        cpu = time.process_time() - cpu0
        spent = {m: timed.by_method.get(m, 0.0) - before.get(m, 0.0) for m in timed.by_method}
        model = sum(spent.values()) or 1.0
        shares = ", ".join(f"{m} {100 * v / model:.0f} %" for m, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v > 0.005 * model)
        texts = [" ".join(d.text for d, o in zip(decoded, owner) if o == k) for k in range(len(pairs))]
        calls = {m: timed.calls.get(m, 0) - calls0.get(m, 0) for m in ("encode", "generate")}
        per_generate = calls["encode"] / max(1, calls["generate"])  # windows per generate call
        line = (f"batch {batch}: {cpu:.1f} CPU-s, {audio_s / cpu:.1f}x real time per CPU-s; model time {shares}; "
                f"{calls['encode']} windows, {per_generate:.1f} per generate")
        if first is None:
            first = (decoded, cpu)
        else:
            same = sum(a.segments == b.segments for a, b in zip(first[0], decoded))
            line += f"; {first[1] / cpu:.2f}x the first run; pieces equal to it (text, word times): {same}/{len(pieces)}"
        if any(t for _, t in pairs):
            m, _ = score([(p, t, h) for (p, t), h in zip(pairs, texts)])
            line += f"; WER {100 * m['wer']:.2f} %, deletions {m['deletions']}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
