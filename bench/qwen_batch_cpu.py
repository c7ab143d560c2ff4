"""Batched against one-at-a-time Qwen3-ASR decoding at the real 0.6B size, on MLX's CPU backend.

No Apple GPU here, so this measures what can be measured without one: the same windows of real
call audio decoded by the library's own path (`library`: encoder, then `generate_with_info`, one
window at a time) and by callscribe's batched path at batch sizes 1, 4 and 8, with a model of the
real Qwen3-ASR-0.6B shape and random weights (scripts/make_tiny_qwen3_asr.py --size 0.6b), float32.
Each run is its own process, so its peak memory is its own. Every window decodes exactly
`--tokens` tokens (random weights never write end-of-text; the repetition guard needs 20).

CPU ratios are not GPU ratios: on the CPU a batched step is compute-bound sooner. Preload
OpenBLAS, or MLX's CPU wheel runs its matrix products on reference BLAS (~1 GFLOP/s):

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0 python bench/qwen_batch_cpu.py --json bench/qwen_batch_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(mode: str, model: str, seconds: float, windows: int, tokens: int) -> dict:
    import mlx.core as mx
    import numpy as np
    from mlx_qwen3_asr import Session
    from mlx_qwen3_asr.audio import compute_features
    from mlx_qwen3_asr.generate import GenerationConfig, generate_with_info

    from callscribe.archive import extract
    from callscribe.audio import load_audio, to_mono
    from callscribe.engines.qwen_batch import encode, generate

    root = Path(tempfile.mkdtemp(prefix="qwen-bench-"))
    extract(sorted((REPO / "samples").glob("*.zip")), root)
    call = to_mono(load_audio(next(p for p in root.rglob("*1758833185*") if p.is_file())))  # the 5-minute call
    step = int(seconds * 16000)
    clips = [call[i * step : (i + 1) * step] for i in range(windows)]

    session = Session(model, dtype=mx.float32)
    m, tok = session.model, session.tokenizer
    rss_loaded = peak_rss_mb()
    mx.reset_peak_memory()

    def prompt_of(n: int) -> list[int]:
        return tok.build_prompt_tokens(n_audio_tokens=n, language="English")

    stats, t0 = {"encode_s": 0.0}, time.perf_counter()
    if mode == "library":
        for clip in clips:
            t = time.perf_counter()
            mel, lens = compute_features(clip)
            feats, _ = m.audio_tower(mel, lens)
            mx.eval(feats)
            stats["encode_s"] += time.perf_counter() - t
            prompt = prompt_of(int(feats.shape[1]))
            pos = mx.arange(len(prompt))[None]
            generate_with_info(m, mx.array([prompt]), feats, mx.stack([pos] * 3, axis=1), GenerationConfig(max_new_tokens=tokens))
    else:
        batch = int(mode)
        for s in range(0, windows, batch):
            t = time.perf_counter()
            feats = encode(m.audio_tower, [compute_features(c)[0][0] for c in clips[s : s + batch]])
            mx.eval(feats)
            stats["encode_s"] += time.perf_counter() - t
            generate(m, [prompt_of(int(f.shape[0])) for f in feats], feats, [tokens] * len(feats), stats=stats)
    wall = time.perf_counter() - t0
    return {"mode": mode, "wall_s": round(wall, 2), **{k: round(v, 2) if isinstance(v, float) else v for k, v in stats.items()},
            "audio_s": seconds * windows, "windows": windows, "tokens_per_window": tokens,
            "peak_mlx_mb": round(mx.get_peak_memory() / 2**20), "rss_after_load_mb": round(rss_loaded),
            "peak_rss_mb": round(peak_rss_mb()), "prompt_tokens": len(prompt_of(int(np.ceil(seconds * 13))))}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        mode, model, seconds, windows, tokens, out = sys.argv[2:8]
        Path(out).write_text(json.dumps(child(mode, model, float(seconds), int(windows), int(tokens))))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a model folder (default: build the random 0.6B-shaped one in a temp folder)")
    ap.add_argument("--modes", nargs="*", default=["library", "1", "4", "8"], help="library and/or batch sizes")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each window")
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=16, help="tokens decoded per window")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    model = args.model
    if not model:
        sys.path.insert(0, str(REPO))
        from scripts.make_tiny_qwen3_asr import build

        model = str(build(Path(tempfile.mkdtemp(prefix="qwen-0.6b-")), size="0.6b"))
    blas = os.environ.get("LD_PRELOAD", "") or "MLX's bundled reference BLAS (slow: preload OpenBLAS)"
    print(f"model {model}; {args.windows} windows of {args.seconds:g} s, {args.tokens} tokens each; "
          f"BLAS: {blas}; {os.cpu_count()} CPUs", flush=True)
    results = []
    for mode in args.modes:
        out = Path(tempfile.mkdtemp()) / "r.json"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, __file__, "--child", mode, model, str(args.seconds), str(args.windows), str(args.tokens), str(out)]
        subprocess.run(cmd, check=True, env=env)
        r = json.loads(out.read_text())
        r["step_ms"] = round(1000 * r["decode_s"] / r["steps"]) if r.get("steps") else None
        results.append(r)
        print(f"{mode:>8}: wall {r['wall_s']:7.1f} s  encode {r['encode_s']:6.1f} s  "
              f"prefill {r.get('prefill_s', float('nan')):6.1f} s  decode {r.get('decode_s', float('nan')):6.1f} s "
              f"({r.get('steps', '-')} steps, {r['step_ms']} ms each)  "
              f"peak MLX {r['peak_mlx_mb']} MB  peak RSS {r['peak_rss_mb']} MB (model loaded: {r['rss_after_load_mb']} MB)", flush=True)
    if args.json:
        about = {"blas": blas, "cpus": os.cpu_count(), "model": "random weights, Qwen3-ASR-0.6B shape, float32"}
        Path(args.json).write_text(json.dumps({**about, "results": results}, indent=1))


if __name__ == "__main__":
    main()
