"""Bench-only hook (bench/poison.py puts this folder on PYTHONPATH): files carrying a marker crash the
process that reads them with a real segfault, as a broken native decoder would. No production code
knows about it.

- `POISON-KILLS-DECODER`: any process that decodes the file (the profile stage's workers, first).
- `POISON-KILLS-WORKER`: only a transcription worker (callscribe.calls), when it loads the file (profile decodes it fine).
"""

import ctypes
import importlib.abc
import importlib.machinery
import sys


def _crash_if_marked(path, marker: bytes) -> None:
    with open(path, "rb") as f:
        if marker in f.read(4096):
            ctypes.string_at(0)  # SIGSEGV


def _patch(module) -> None:
    if module.__name__ == "callscribe.audio":
        decode = module.decode

        def marked_decode(path):
            _crash_if_marked(path, b"POISON-KILLS-DECODER")
            return decode(path)

        module.decode = marked_decode
    elif module.__name__ == "callscribe.calls":
        load_audio = module.load_audio

        def marked_load(path, *args, **kwargs):
            _crash_if_marked(path, b"POISON-KILLS-WORKER")
            return load_audio(path, *args, **kwargs)

        module.load_audio = marked_load


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in ("callscribe.audio", "callscribe.calls"):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


sys.meta_path.insert(0, _Finder())
