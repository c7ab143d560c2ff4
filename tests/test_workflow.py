"""The owner's DVC workflow end to end (issue 10), offline, on a fresh copy of the project:
`dvc repro`, swap the model with `dvc exp run -S`, compare, plot, share through an SSH remote."""

import contextlib
import hashlib
import json
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.helpers import copy_project, dvc_env

pytestmark = pytest.mark.slow  # one `dvc repro` of the samples (minutes on a loaded machine), then experiments on copies

GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
OFFLINE = {"HF_HUB_OFFLINE": "1"}


def sh(project, *args, check=True, env=None):
    out = subprocess.run(args, cwd=project, capture_output=True, text=True, env={**dvc_env(project), **GIT, **(env or {})})
    assert not check or out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def dvc(project, *args, **kw):
    return sh(project, "dvc", *args, **kw)


def ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def read_jsonl(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def clone(src: Path, dest: Path) -> Path:
    """A copy of a project with its git history, DVC cache and workspace."""
    shutil.copytree(src, dest, symlinks=True, ignore=lambda d, names: ["tmp"] if Path(d).name == ".dvc" else [])
    return dest


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("reproduced") / "project")
    dvc(project, "repro", env=OFFLINE)
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "repro")
    return project


@pytest.fixture(scope="module")
def experiment(reproduced, tmp_path_factory):
    """The reproduced project after `dvc exp run -S transcribe.model=tiny.en`, offline."""
    project = clone(reproduced, tmp_path_factory.mktemp("experiment") / "project")
    before = (project / "params.yaml").read_text()
    out = dvc(project, "exp", "run", "-n", "tiny", "-S", "transcribe.model=tiny.en", env=OFFLINE)
    return project, before, out


# 1. Swapping the model size works offline.
def test_exp_run_swaps_to_the_bundled_tiny_model_offline(experiment):
    project, _, out = experiment
    assert ran(out) == {"transcribe@2025-09a", "transcribe@2025-09b", "merge", "index", "analytics", "review", "evaluate"}
    models = {json.loads(line)["model"] for j in (project / "data/transcripts").glob("*/journal.jsonl") for line in open(j)}
    assert models == {"base", "tiny.en"}  # base from the commit, then tiny.en for every call
    diff = json.loads(dvc(project, "metrics", "diff", "--json"))["metrics.json"]
    assert diff["wer"]["old"] < 0.10 and diff["wer"]["new"] != diff["wer"]["old"] and diff["speed"]["new"] > 0


# 8. `dvc exp run -S` rewrites params.yaml only where it sets a value.
def test_exp_run_leaves_the_rest_of_params_yaml_as_written(experiment):
    project, before, _ = experiment
    after = (project / "params.yaml").read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(before.splitlines()) == len(after.splitlines())
    assert [b.split("#")[0].strip() for _, b in changed] == ["model: tiny.en"]


# 5. The figures that matter come first and fit side by side at 80 columns.
def test_metrics_and_experiments_read_at_80_columns(experiment):
    project, _, _ = experiment
    summary = json.loads((project / "metrics.json").read_text())
    assert list(summary) == ["wer", "der", "own", "low", "hours", "calls", "errors", "speed"]
    assert summary["calls"] == 27 and summary["errors"] == 0
    shown = dvc(project, "metrics", "show", env={"COLUMNS": "80"})
    assert max(map(len, shown.splitlines())) <= 80 and "…" not in shown
    assert sorted(shown.splitlines()[0].split()) == sorted(["Path", *(k for k, v in summary.items() if v is not None)])  # own: no labels
    table = dvc(project, "exp", "show", "--only-changed", "--drop", "Created|.*/.*", env={"COLUMNS": "80"})  # as the README says
    header = next(line for line in table.splitlines() if "Experiment" in line)
    for column in ("wer", "speed", "transcribe.model"):
        assert column in header, table
    assert "tiny.en" in table and "…" not in table and max(map(len, table.splitlines())) <= 80


# 5b. `callscribe compare`: the one param that differs is shown beside the metrics at 80 columns.
def test_compare_shows_the_changed_model_beside_the_metrics_at_80_columns(experiment):
    project, _, _ = experiment
    out = sh(project, sys.executable, "-m", "callscribe.cli", "compare", env={"COLUMNS": "80"})
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80 and lines[0].split()[:2] == ["run", "workspace"] and "tiny" in lines[0].split()
    model = next(line for line in lines if line.startswith("transcribe.model")).split()
    assert model[1] == "tiny.en" and "auto" in model and next(line for line in lines if line.startswith("wer"))
    assert not any(line.startswith("transcribe.beam_size") for line in lines)  # the same in every run: left out


# 9. A wrong value for a transcribe param stops `dvc repro` before any work, naming the key, and leaves
# the outputs byte for byte (it used to make every call an error and merge wrote 0 texts, exit 0).
def test_a_wrong_transcribe_value_stops_dvc_repro_and_leaves_the_outputs(reproduced, tmp_path):
    project = clone(reproduced, tmp_path / "typo")
    outputs = [project / "data/output/calls.jsonl", project / "data/output/calls.db"]
    before = [p.read_bytes() for p in outputs]
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(text.replace("\n  beam_size: 2 ", "\n  beam_size: two ", 1))
    done = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True, env={**dvc_env(project), **OFFLINE})
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "params.yaml: transcribe.beam_size is 'two': give a whole number" in out, out
    assert "Traceback" not in out and ran(out) <= {"transcribe@2025-09a", "transcribe@2025-09b"}, out
    assert [p.read_bytes() for p in outputs] == before


# 4. Plots: histogram in numeric order, WER/speed per experiment, time per stage, PNGs that show offline.
def test_plots_diff_shows_each_experiment_and_images(experiment):
    project, _, _ = experiment
    plots = json.loads(dvc(project, "plots", "diff", "HEAD", "--json"))["data"]
    bins = [r["minutes"] for r in plots["plots/durations.json"][0]["content"]["data"]["values"] if r["rev"] == "HEAD"]
    assert bins[:4] == ["0-0.1", "0.1-0.5", "0.5-1", "1-2"] and bins[-1] == ">90"
    encoding = plots["plots/durations.json"][0]["content"]["encoding"]
    assert encoding["x"]["field"] == "minutes" and encoding["x"]["sort"] is None and encoding["y"]["field"] == "calls"
    quality = plots["plots/quality.json"][0]["content"]["data"]["values"]
    assert {r["rev"] for r in quality} == {"HEAD", "workspace"} and all(float(r["wer"]) > 0 for r in quality)
    stages = [r["stage"] for r in plots["plots/stage_seconds.json"][0]["content"]["data"]["values"] if r["rev"] == "workspace"]
    assert stages[:3] == ["extract", "profile", "filter"] and "transcribe@2025-09a" in stages
    for png in ("plots/durations.png", "plots/stage_seconds.png"):
        images = plots[png]
        assert {i["revisions"][0] for i in images} == {"HEAD", "workspace"} and all(i["type"] == "image" for i in images)
        assert (project / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dvc(project, "plots", "diff", "HEAD")  # writes dvc_plots/index.html
    html = (project / "dvc_plots/index.html").read_text()
    assert "<img" in html and "stage_seconds.png" in html
    assert "dvc_plots" in sh(project, "git", "check-ignore", "dvc_plots/index.html")


# 6. A repeated call is transcribed once; a new month without a shard stops the filter stage.
def test_duplicates_once_and_unsharded_dates_stop_with_the_lines_to_add(reproduced, tmp_path):
    project = clone(reproduced, tmp_path / "project")
    journals = {j: len(j.read_text().splitlines()) for j in (project / "data/transcripts").glob("*/journal.jsonl")}
    new_zip = tmp_path / "calls_2025-10.zip"
    with zipfile.ZipFile(project / "samples/calls_2025-09-16_2025-09-30.zip") as src, zipfile.ZipFile(new_zip, "w") as dst:
        for m in src.infolist():
            if "1758662274" in m.filename:
                dst.writestr(m.filename, src.read(m))  # the same September call again, in another export
                october = bytearray(src.read(m))
                october[-1] ^= 1  # other audio (one sample's low bit): a call of its own, in October
                dst.writestr("recordings/q-410-+19195550170-20251002-171754-1759439874.5684.WAV", bytes(october))
    text = (project / "params.yaml").read_text().replace(
        "  - samples/calls_2025-09-16_2025-09-30.zip\n", f"  - samples/calls_2025-09-16_2025-09-30.zip\n  - {new_zip}\n")
    (project / "params.yaml").write_text(text)
    stopped = dvc(project, "repro", check=False)
    assert "failed to reproduce 'filter'" in stopped and "2025-10-02 (1)" in stopped
    assert "  2025-10: {start: '2025-10-01', end: '2025-10-31'}" in stopped
    lines = sh(project, sys.executable, "-m", "callscribe.cli", "shards", "--propose")
    assert lines == "  2025-10: {start: '2025-10-01', end: '2025-10-31'}\n"
    last_shard = "  2025-09b: {start: '2025-09-16', end: '2025-09-30'}\n"
    text = text.replace(last_shard, last_shard + lines)
    (project / "params.yaml").write_text(text)
    dvc(project, "repro", env=OFFLINE)
    for j, n in journals.items():
        assert len(j.read_text().splitlines()) == n  # the repeated September call: not transcribed again
    assert len(read_jsonl(project / "data/transcripts/2025-10/journal.jsonl")) == 1
    calls = read_jsonl(project / "data/output/calls.jsonl")
    assert len(calls) == 31
    jfk = [c for c in calls if c["name"].endswith("1758662274.5684.WAV") or "1758662274" in c["name"]]
    original, copy = sorted(jfk, key=lambda c: "duplicate_of" in c)
    assert copy["duplicate_of"] == original["id"] and copy["text"] == original["text"] and copy["status"] == "ok"
    assert (project / f"data/output/transcripts/{copy['id']}.json").exists()


def cache_is_intact(project: Path) -> list[str]:
    """Cache objects whose content no longer matches their md5 name."""
    bad = []
    for obj in (project / ".dvc/cache/files/md5").rglob("*"):
        if obj.is_file():
            name = obj.parent.name + obj.name.removesuffix(".dir")
            if hashlib.md5(obj.read_bytes()).hexdigest() != name:
                bad.append(str(obj))
    return bad


# 8. The journal is appended in place: the cache link type the README recommends keeps the cache intact,
# and even hard links (which the README warns against) do not let an append reach the cache.
@pytest.mark.parametrize("link", ["reflink,copy", "hardlink"])
def test_appending_to_the_journal_after_checkout_leaves_the_cache_intact(reproduced, tmp_path, link):
    project = clone(reproduced, tmp_path / "project")
    assert "type = reflink,copy" in (project / ".dvc/config").read_text()  # the project's own setting
    dvc(project, "config", "--local", "cache.type", link)
    dvc(project, "checkout", "--relink")
    journal = project / "data/transcripts/2025-09a/journal.jsonl"
    before = journal.read_text()
    if link == "hardlink":
        assert journal.stat().st_nlink > 1  # the workspace journal is the cache object itself
    # Two near-empty files (under min_bytes until now) join the shard: their lines are appended.
    dvc(project, "exp", "run", "-S", "filter.min_bytes=0", "-S", "filter.min_seconds=0", env=OFFLINE)
    assert journal.read_text().startswith(before) and len(journal.read_text()) > len(before)
    assert cache_is_intact(project) == []
    assert "up to date" in dvc(project, "status")
    sh(project, "git", "checkout", "-q", "--", "params.yaml", "dvc.lock")
    dvc(project, "checkout", "--force")
    assert journal.read_text() == before  # the committed journal comes back from the cache unchanged


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def openssh_server(tmp_path: Path):
    """A real OpenSSH server on 127.0.0.1, with its own host key, one user key, and SFTP; stopped on exit."""
    if not Path("/usr/sbin/sshd").exists():
        pytest.skip("openssh-server is not installed (scripts/debian-packages.txt; `make test` installs it)")
    d = tmp_path / "ssh"
    d.mkdir(mode=0o700)
    for key in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    shutil.copy(d / "user.pub", d / "authorized_keys")
    port = free_port()
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {d / 'host'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        f"PidFile {d / 'sshd.pid'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory sshd insists on
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
    try:
        yield {"port": port, "key": d / "user", "user": subprocess.check_output(["id", "-un"], text=True).strip()}
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def sshd(tmp_path):
    with openssh_server(tmp_path) as server:
        yield server


# 3. A second machine gets the results from the remote instead of re-transcribing.
def test_ssh_remote_push_then_a_fresh_clone_pulls_and_reruns_nothing(reproduced, tmp_path, sshd):
    project = clone(reproduced, tmp_path / "first")
    url = f"ssh://{sshd['user']}@127.0.0.1:{sshd['port']}{tmp_path / 'store'}"
    dvc(project, "remote", "add", "-d", "store", url)
    dvc(project, "remote", "modify", "--local", "store", "keyfile", str(sshd["key"]))
    sh(project, "git", "commit", "-qam", "remote")
    assert "files pushed" in dvc(project, "push")

    second = tmp_path / "second"
    sh(tmp_path, "git", "clone", "-q", str(project), str(second))
    dvc(second, "remote", "modify", "--local", "store", "keyfile", str(sshd["key"]))
    out = sh(second, "bash", "scripts/repro.sh", env=OFFLINE)  # what `make repro` runs
    assert "pulling from the DVC remote first" in out and ran(out) == set(), out
    assert "up to date" in dvc(second, "status")
    assert (second / "data/output/calls.jsonl").read_text() == (project / "data/output/calls.jsonl").read_text()
