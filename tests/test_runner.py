"""The runner's rules, with a fake pool (tests/fakes.py): no model, no worker process.

Which call killed its worker, and that only it fails; calls that fail for one reason stop the run and
none of them is kept as done; calls that fail each for its own reason (bad audio) do not."""

from __future__ import annotations

import json

import pytest

from callscribe.calls import Job
from callscribe.fileio import read_jsonl
from callscribe.pools import WorkerLost, after_loss, crash_reason
from callscribe.runner import BAD_SETTING, NOT_DONE, TooManyFailed, run, transcribe_folder
from callscribe.settings import TranscribeSettings
from tests.fakes import install

SETTINGS = {"engine": "faster-whisper", "model": "tiny.en", "workers": 2, "pack_seconds": 10}


def settings() -> TranscribeSettings:
    return TranscribeSettings.from_params(SETTINGS)


def calls(tmp_path, short: int = 6, long: int = 2) -> list[Job]:
    """Short calls (packed, 5 s: one group) and long ones (alone, or together where faster-whisper batches: runner.together_seconds)."""
    jobs = [Job(f"s{i}", str(tmp_path / f"s{i}.wav"), f"sha-s{i}", 5.0) for i in range(short)]
    return jobs + [Job(f"l{i}", str(tmp_path / f"l{i}.wav"), f"sha-l{i}", 120.0 + i) for i in range(long)]


def journal(out) -> dict[str, list[dict]]:
    lines: dict[str, list[dict]] = {}
    for e in read_jsonl(out / "journal.jsonl") if (out / "journal.jsonl").exists() else []:
        lines.setdefault(e["id"], []).append(e)
    return lines


def test_the_rule_for_a_lost_group():
    group = [Job(str(i), f"{i}.wav", "", 1.0) for i in range(5)]
    assert after_loss(group, WorkerLost("", alone=False)) == [group]  # it may be innocent: whole again
    assert after_loss(group, WorkerLost("", alone=True)) == [group[:2], group[2:]]
    assert after_loss(group[:1], WorkerLost("", alone=True)) == []  # the culprit


@pytest.mark.parametrize("isolates", [False, True], ids=["process pool", "ray actors"])
def test_the_call_that_kills_its_worker_is_the_only_one_lost(tmp_path, monkeypatch, isolates):
    pools = install(monkeypatch, {"s3": "kill"}, isolates=isolates)
    jobs = calls(tmp_path)
    summary = run(jobs, tmp_path / "out", settings(), progress=False)
    assert summary.counts == {"ok": 7, "error": 1}
    lines = journal(tmp_path / "out")
    assert all(len(v) == 1 for v in lines.values()) and set(lines) == {j.id for j in jobs}  # each written once
    assert lines["s3"][0]["status"] == "error" and lines["s3"][0]["reason"] == crash_reason(str(tmp_path / "s3.wav"))
    submitted = [g for p in pools for g in p.submitted]
    packed = [f"s{i}" for i in range(6)]
    assert submitted.count(packed) == 2  # whole once more before it is halved
    assert ["s3"] in submitted and ["s0", "s1", "s2"] in submitted  # halved down to the culprit
    if not isolates:  # one death fails the long calls beside it too: they are run again, whole, and written
        assert any("l1" in g for g in submitted) and lines["l1"][0]["status"] == "ok"
    assert pools[-1].closed is False


def test_calls_that_fail_for_one_reason_stop_the_run_and_none_is_kept_as_done(tmp_path, monkeypatch, capsys):
    reason = "transcription failed on {path} (TypeError: '<' not supported between instances of 'str' and 'int')"
    jobs = calls(tmp_path, short=6, long=6)  # 7 groups: the long calls alone, first
    pools = install(monkeypatch, {j.id: f"fail:{reason}" for j in jobs}, capacity=1)
    out = tmp_path / "out"
    code, summary = transcribe_folder(jobs, out, SETTINGS, None, name="transcribe@s", resume_hint="run again")
    err = capsys.readouterr().err
    assert code == NOT_DONE and summary is None
    assert err.count("TypeError") == 1 and "failed for one reason" in err and "a call" in err  # named once, without a path
    assert journal(out) == {}  # none of them is done: the next run tries them again
    assert len(pools[0].submitted) <= 5 and pools[0].closed is True  # stopped after 3 alike (2 more in flight), not after 7

    install(monkeypatch, {})  # the cause fixed
    code, summary = transcribe_folder(jobs, out, SETTINGS, None, name="transcribe@s", resume_hint="run again")
    assert code == 0 and summary.counts == {"ok": 12}


def test_more_than_half_failing_alike_fails_the_run_at_the_end(tmp_path, monkeypatch):
    jobs = calls(tmp_path, short=0, long=5)
    install(monkeypatch, {"l4": "ok", "l3": "fail:engine broke", "l2": "fail:engine broke", "l1": "fail:engine broke"}, capacity=1)
    with pytest.raises(TooManyFailed, match="3 of the 5 calls"):
        run(jobs, tmp_path / "out", settings(), progress=False)
    assert set(journal(tmp_path / "out")) == {"l4", "l0"}


def test_calls_that_fail_each_for_its_own_reason_go_on(tmp_path, monkeypatch):
    """Bad audio is that call's own: a shard of unreadable files is a finished shard, each with its record."""
    jobs = calls(tmp_path)
    install(monkeypatch, {j.id: "fail:cannot decode {path}: Format not recognised" for j in jobs[:5]} | {"l0": "fail:one odd call"})
    summary = run(jobs, tmp_path / "out", settings(), progress=False)
    assert summary.counts == {"error": 6, "ok": 2}
    lines = journal(tmp_path / "out")
    assert {k for k, v in lines.items() if v[-1]["status"] == "error"} == {"s0", "s1", "s2", "s3", "s4", "l0"}


def test_a_group_that_raises_outside_the_calls_guards_is_run_call_by_call(tmp_path, monkeypatch):
    jobs = calls(tmp_path, short=3, long=0)
    pools = install(monkeypatch, {"s1": "raise"})
    summary = run(jobs, tmp_path / "out", settings(), progress=False)
    assert summary.counts == {"ok": 2, "error": 1}
    assert pools[0].submitted[0] == ["s0", "s1", "s2"] and sorted(pools[0].submitted[1:]) == [["s0"], ["s1"], ["s2"]]
    reason = journal(tmp_path / "out")["s1"][0]["reason"]
    assert "RuntimeError" in reason and str(tmp_path / "s1.wav") in reason


def test_the_manifest_row_and_the_store_copy_when_json_is_not_written(tmp_path, monkeypatch):
    """Without JSON among the formats the transcript is still known (the store holds it): the folder gives it."""
    from callscribe.folder import ShardFolder

    install(monkeypatch, {})
    jobs = calls(tmp_path, short=2, long=0)
    run(jobs, tmp_path / "out", settings(), formats=["txt"], progress=False)
    assert not list((tmp_path / "out").glob("*.json")) and (tmp_path / "out" / "s0.txt").exists()
    got = {call_id: t.text for call_id, _, t in ShardFolder(tmp_path / "out", ["txt"]).transcripts()}
    assert got == {"s0": "words of s0", "s1": "words of s1"}
    assert "json" not in json.loads((tmp_path / "out" / "journal.jsonl").read_text().splitlines()[0])


def test_an_engine_that_does_not_load_stops_with_its_message_alone(tmp_path, monkeypatch, capsys):
    jobs = calls(tmp_path, short=0, long=3)
    pools = install(monkeypatch, {j.id: "unavailable" for j in jobs})
    code, _ = transcribe_folder(jobs, tmp_path / "out", SETTINGS, None, name="callscribe", resume_hint="rerun")
    err = capsys.readouterr().err
    assert code == BAD_SETTING and err.count("failed to load") == 1 and "Traceback" not in err
    assert journal(tmp_path / "out") == {} and pools[0].closed is True


def test_a_bad_setting_stops_before_any_work_with_the_same_message_as_the_cli(tmp_path, monkeypatch, capsys):
    pools = install(monkeypatch, {})
    code, _ = transcribe_folder(calls(tmp_path), tmp_path / "out", {**SETTINGS, "beem_size": 2}, None, name="transcribe@s",
                                resume_hint="rerun")
    err = capsys.readouterr().err
    assert code == BAD_SETTING and "transcribe@s: error: " in err and "beem_size" in err and "Traceback" not in err
    assert pools == [] and not (tmp_path / "out").exists()
