#!/usr/bin/env python3
"""Write a tiny random-weight Qwen3-ASR model folder (and optionally a forced aligner) for tests.

The folders have the layout `mlx_qwen3_asr.load_model()` reads from a real checkpoint
(`config.json`, `model.safetensors`, `vocab.json`, `merges.txt`, `tokenizer_config.json`),
with a shrunken architecture: one encoder and one decoder layer, 64-wide. The tokenizer has
the byte alphabet, a few words and the special tokens the prompt needs, at the real
checkpoint's ids (mlx-qwen3-asr hard-codes <|im_start|>/<|im_end|>/<|endoftext|>, so the
vocabulary keeps its real size).

Weights are random, except that the output head maps each token of a short chain to the next
one, so every ~30 s window the library decodes reads "language English<asr_text>one two three
four five" and stops: a well-behaved decoder. `loop=True` leaves the head tied to random
embeddings instead, and greedy decoding then repeats one token until the library's repetition
guard stops it: the runaway failure of long calls. `plain=True` keeps MLX's random initialisation
for every weight and an untied output head (a decoder that writes a different token sequence for
each input; a random head tied to the embeddings writes its last input token forever), and
`size="0.6b"` gives the real Qwen3-ASR-0.6B shape (plain weights: 0.9 B parameters, a 1.8 GB
float16 file, the head untied) for batching and speed checks at the real size. The aligner variant is the same network
with a timestamp-class head, as Qwen3-ForcedAligner is. None of it is speech recognition: the
folders exercise the real code path, not accuracy.

Usage:  python scripts/make_tiny_qwen3_asr.py OUT_DIR [--aligner ALIGNER_DIR] [--loop | --plain] [--size tiny|0.6b]
Needs:  mlx (`pip install 'mlx[cpu]'` on Linux) and mlx-qwen3-asr.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

VOCAB_SIZE = 151936
SPECIAL = {  # id -> token, as in Qwen/Qwen3-ASR-0.6B
    151643: "<|endoftext|>",
    151644: "<|im_start|>",
    151645: "<|im_end|>",
    151669: "<|audio_start|>",
    151670: "<|audio_end|>",
    151676: "<|audio_pad|>",
    151704: "<asr_text>",
    151705: "<timestamp>",
}


def _byte_alphabet() -> dict[int, str]:
    """GPT-2 / Qwen byte-to-unicode map: token id = byte value."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


WORDS = {300: "Ġone", 301: "Ġtwo", 302: "Ġthree", 303: "Ġfour", 304: "Ġfive"}
ADDED = {310: "language English"}  # one token, so a forced-language prompt ends in <asr_text>
# Each token's successor: what the well-behaved model writes after the prompt's last token.
CHAIN = [10, 310, 151704, 300, 301, 302, 303, 304, 151645]  # "\n" ... <|im_end|>


# The real Qwen/Qwen3-ASR-0.6B architecture (its config.json, as mlx_qwen3_asr.config defaults it).
SIZE_0_6B = {
    "audio_config": {"encoder_layers": 18, "encoder_attention_heads": 14, "encoder_ffn_dim": 3584, "d_model": 896,
                     "output_dim": 1024, "downsample_hidden_size": 480},
    "text_config": {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 16,
                    "num_key_value_heads": 8, "head_dim": 128, "rope_scaling": {"mrope_section": [24, 20, 20], "interleaved": True},
                    "tie_word_embeddings": False},  # tied in the real one; a random tied head repeats its input
}


def _config(aligner: bool, loop: bool, size: str = "tiny") -> dict:
    thinker = {
        "audio_config": {
            "num_mel_bins": 128, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 128,
            "d_model": 64, "output_dim": 64, "max_source_positions": 1500, "n_window": 50, "n_window_infer": 800,
            "conv_chunksize": 500, "downsample_hidden_size": 32,
        },
        "text_config": {
            "vocab_size": VOCAB_SIZE, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "rope_theta": 1000000.0,
            "rope_scaling": {"mrope_section": [6, 5, 5], "interleaved": True}, "tie_word_embeddings": loop,
        },
        "audio_token_id": 151676, "audio_start_token_id": 151669, "audio_end_token_id": 151670,
    }
    if size == "0.6b":
        for part, values in SIZE_0_6B.items():
            thinker[part].update(values)
    elif size != "tiny":
        raise ValueError(f"unknown size {size!r}: tiny or 0.6b")
    config = {"architectures": ["Qwen3ASRForConditionalGeneration"], "thinker_config": thinker}
    if aligner:  # the forced aligner is the same network with a timestamp-class head
        thinker["classify_num"] = 256
        config.update(timestamp_token_id=151705, timestamp_segment_time=80)
    return config


def build(out: str | Path, aligner: bool = False, loop: bool = False, seed: int = 0, size: str = "tiny", plain: bool = False) -> Path:
    import mlx.core as mx
    import mlx.utils
    from mlx_qwen3_asr.config import Qwen3ASRConfig
    from mlx_qwen3_asr.model import Qwen3ASRModel

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plain = plain or size != "tiny"
    config = _config(aligner, loop, size)
    mx.random.seed(seed)
    model = Qwen3ASRModel(Qwen3ASRConfig.from_dict(config))
    weights = dict(mlx.utils.tree_flatten(model.parameters()))
    if plain:
        _write(out, config, {k: v.astype(mx.float16) for k, v in weights.items()})
        return out

    # Only the tokens the model may write get embeddings (others decode to nothing).
    used = [ord(c) for c in "abcdefghijklmnopqrstuvwxyz "] if loop else CHAIN
    rows = mx.array(used)
    embed = mx.zeros((VOCAB_SIZE, 64)).at[rows].add(4 * mx.random.normal((len(used), 64)))
    weights["model.embed_tokens.weight"] = embed
    if loop:
        weights.pop("lm_head.weight")  # tied to the embeddings; the loader re-ties them
    elif not aligner:
        head = mx.zeros((VOCAB_SIZE, 64))
        weights["lm_head.weight"] = head.at[mx.array(CHAIN[1:])].add(embed[mx.array(CHAIN[:-1])])
    _write(out, config, {k: v.astype(mx.float16) for k, v in weights.items()})
    return out


def _write(out: Path, config: dict, weights: dict) -> None:
    import mlx.core as mx

    mx.save_safetensors(str(out / "model.safetensors"), weights)
    (out / "config.json").write_text(json.dumps(config, indent=1))
    vocab = {ch: b for b, ch in _byte_alphabet().items()} | {t: i for i, t in WORDS.items()}
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (out / "merges.txt").write_text("#version: 0.2\n")
    added = {str(i): {"content": t, "special": True} for i, t in SPECIAL.items()}
    added |= {str(i): {"content": t, "special": False} for i, t in ADDED.items()}
    (out / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": added, "eos_token": "<|im_end|>"}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--aligner", help="also write a tiny forced aligner to this folder")
    ap.add_argument("--loop", action="store_true", help="a model that loops (random output head)")
    ap.add_argument("--plain", action="store_true", help="every weight random (MLX's initialisation)")
    ap.add_argument("--size", default="tiny", choices=("tiny", "0.6b"), help="0.6b: the real Qwen3-ASR-0.6B shape, random weights")
    args = ap.parse_args()
    print(build(args.out, loop=args.loop, size=args.size, plain=args.plain))
    if args.aligner:
        print(build(args.aligner, aligner=True, seed=1))


if __name__ == "__main__":
    main()
