# The two commands of the README: `make repro` (set up and run the pipeline), `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Apple Silicon gets the Qwen3-ASR engine on the GPU; everything else faster-whisper on the CPU.
EXTRAS := $(shell $(PYTHON) -c "import platform; print('dev,mlx' if platform.system()=='Darwin' and platform.machine()=='arm64' else 'dev')")
# `make bench`: on Apple Silicon the Qwen3-ASR batch sizes and compute types (bench/mac.py), elsewhere faster-whisper's.
BENCH := $(if $(findstring mlx,$(EXTRAS)),bench/mac.py --json bench/mac-results.json,bench/throughput.py)

.PHONY: setup system repro test bench plan clean

$(BIN)/callscribe: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

# The speaker models (segmentation-3.0, CAM++) exported to ONNX once, in a throwaway venv with the CPU torch wheel.
models/speaker/manifest.json: scripts/export_speaker_models.py
	$(PYTHON) scripts/export_speaker_models.py --out models/speaker

setup: $(BIN)/callscribe models/speaker/manifest.json

# Debian packages the tests and tools use (scripts/debian-packages.txt); skipped where there is no apt.
system:
	bash scripts/setup-system.sh

# Pulls from the DVC remote first when one is configured (scripts/repro.sh), then `dvc repro`.
repro: setup
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/repro.sh

test: setup system
	$(BIN)/ruff check .
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

bench: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python $(BENCH)

# Disk and hours the archive in params.yaml needs here (measures this machine for a minute or two).
plan: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/callscribe plan

clean:
	rm -rf $(VENV) models/speaker
