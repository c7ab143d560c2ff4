from callscribe.profile import parse_name, profile_tree
from callscribe.selection import FilterParams, select


def test_phone_system_names_are_parsed():
    f = parse_name("q-300-+13364138311-20250930-164205-1759264925.7795.WAV")
    assert f == {"queue": "300", "caller": "+13364138311", "date": "2025-09-30", "start": "2025-09-30T16:42:05",
                 "start_utc": "2025-09-30T20:42:05+00:00", "call_id": "1759264925.7795"}
    assert parse_name("voicemail greeting.wav")["date"] is None
    assert parse_name("q-300-+1336-20251399-164205-1.2.WAV")["date"] is None  # impossible date


def test_profile_and_filter_on_samples(sample_audio):
    rows, new = profile_tree(sample_audio, workers=1, progress=False)
    assert new == len(rows) == 29
    by_size = sorted(rows, key=lambda r: r["bytes"])
    assert by_size[0]["bytes"] == 60 and by_size[0]["duration"] == 0
    assert sum(r["channels"] == 2 for r in rows) == 1
    again, new = profile_tree(sample_audio, rows, workers=1, progress=False)
    assert new == 0 and again == rows

    shards = {"a": {"start": "2025-09-01", "end": "2025-09-15"}, "b": {"start": "2025-09-16", "end": "2025-09-30"}}
    selected, metrics = select(rows, shards, FilterParams(undated_shard="a"))
    assert metrics["dropped_by_reason"] == {"under min_bytes": 2}
    assert all(r["date"] is None or r["date"] <= "2025-09-15" for r in selected["a"])
    assert all(r["date"] >= "2025-09-16" for r in selected["b"])
    assert len(selected["a"]) + len(selected["b"]) == 27
    _, metrics = select(rows, shards, FilterParams(queues=["410"], end="2025-09-20"))
    assert "queue not selected" in metrics["dropped_by_reason"] and "outside filter dates" in metrics["dropped_by_reason"]
