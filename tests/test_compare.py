"""`callscribe compare`: metrics and the params that differ, one column per run, within 80 columns.
On a real project with an experiment: tests/test_workflow.py."""

from callscribe.compare import choose, table

METRICS = ["wer", "cer", "speed"]


def row(rev, wer, model, exp=None, typ="branch_commit", beam=2.0):
    return {"Experiment": exp, "rev": rev, "typ": typ, "wer": wer, "cer": 0.02, "speed": 9.0, "transcribe.model": model,
            "transcribe.beam_size": beam, "transcribe.vad": "True", "callscribe/settings.py": "abc", "data/audio": "x.dir"}


ROWS = [row("workspace", 0.0481, "tiny.en", typ="baseline"), row("main", 0.0519, "auto", typ="baseline"),
        row("9f1c2e0aa", 0.0481, "tiny.en", exp="tiny"), row("8d7e6f5aa", 0.05, "/models/a-very-long-local-model-folder-name", "long")]


def test_the_changed_params_are_rows_and_everything_fits_80_columns():
    out = table(ROWS, METRICS, 80)
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[0].split() == ["run", "workspace", "main", "tiny", "long"]
    model = next(line for line in lines if line.startswith("transcribe.model"))
    assert model.split()[1:4] == ["tiny.en", "auto", "tiny.en"] and model.endswith("…")  # cut to its column, marked
    assert not any(line.startswith(("transcribe.vad", "transcribe.beam_size", "callscribe/", "data/")) for line in lines)
    assert next(line for line in lines if line.startswith("wer")).split()[1:] == ["0.0481", "0.0519", "0.0481", "0.05"]


def test_runs_that_do_not_fit_are_named_and_can_be_asked_for():
    out = table(ROWS, METRICS, 40)
    assert max(map(len, out.splitlines())) <= 40 and out.splitlines()[-1].startswith("2 more: callscribe compare tiny")
    chosen = choose(ROWS, ["HEAD", "tiny"])
    assert [r["rev"] for r in chosen] == ["main", "9f1c2e0aa"]
    assert "transcribe.beam_size" not in table(chosen, METRICS) and "transcribe.model" in table(chosen, METRICS)
    assert "no param differs" in table([ROWS[0], ROWS[2]], METRICS)
