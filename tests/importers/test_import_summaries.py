"""Streaming summaries read as a state trajectory, and what the trajectory means in words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.errors import InspectorError
from inspector.importers.source import read_source
from inspector.importers.summaries import describe_trajectory, parse_summary, state_env

DATA = Path(__file__).parent / "data"


def steps_of(rows: list[dict]) -> list:
    return parse_summary(rows)


def nemo_rows(n: int, step: int = 3, cap: int = 256) -> list[dict]:
    rows, length = [], 0
    for i in range(n):
        out = min(1 if i == 0 else length + step, cap)
        rows.append({"chunk_idx": i, "input_len": 41 if i == 0 else 57, "cache_len_in": length, "cache_len_out": out,
                     "cache_drop_size": 3, "valid_out_len": step})
        length = out
    return rows


class TestTrajectory:
    def test_never_carried(self) -> None:
        """The seed's chunk-isolated export: a length stuck at 0 is named for what it is, with the clamped raw value."""
        steps = parse_summary(read_source(DATA / "summary_never_carried.jsonl").data)
        v = describe_trajectory(steps)
        assert v.pattern == "never-carried" and v.carried is False
        assert v.summary.startswith("attention cache never carried: cache_len_out stayed 0 for 50 chunks")
        assert any("-67" in p and "clamped" in p for p in v.problems)

    def test_nemo_growth_saturates(self) -> None:
        """1, 4, 7, … 256: grows by 3 per chunk and saturates as NeMo's rule says; no problems."""
        v = describe_trajectory(steps_of(nemo_rows(100)), cache_size=256, valid_out_len=3)
        assert v.pattern == "grows-saturates" and v.carried is True and not v.problems
        assert "grows by 3 per chunk, saturating at 256 from chunk 85 as NeMo does" in v.summary
        assert v.saturated_at == (256, 85)

    def test_not_yet_saturated(self) -> None:
        v = describe_trajectory(steps_of(nemo_rows(50)), cache_size=256)
        assert "not yet saturated after 50 chunks (148 of 256)" in v.summary

    def test_padded_frames_on_the_last_chunk(self) -> None:
        """A short last chunk that still adds a full chunk's frames: the padding was counted."""
        steps = parse_summary(read_source(DATA / "summary_padded_last.json").data)
        v = describe_trajectory(steps, cache_size=256, valid_out_len=3)
        assert any(p.startswith("grows by padded frames on the last chunk") for p in v.problems)

    def test_padded_frames_seen_through_valid_out_len(self) -> None:
        """A chunk that kept 1 valid frame but grew the cache by 3."""
        rows = nemo_rows(12)
        rows[6]["valid_out_len"] = 1
        v = describe_trajectory(steps_of(rows))
        assert any("grows by padded frames on chunk 6: +3 while only 1 output frame(s) were valid" in p
                   for p in v.problems)

    def test_short_last_chunk_with_real_frames_only_is_fine(self) -> None:
        rows = nemo_rows(12)
        rows[-1].update(input_len=25, cache_len_out=rows[-1]["cache_len_in"] + 1)
        v = describe_trajectory(steps_of(rows))
        assert not v.problems and any("by its real frames only" in f for f in v.findings)

    def test_not_fed_back(self) -> None:
        """cache_len_out grows but every chunk starts from 0: the length is not fed back."""
        rows = [{"chunk_idx": i, "cache_len_in": 0, "cache_len_out": 3} for i in range(10)]
        v = describe_trajectory(steps_of(rows))
        assert v.pattern == "not-fed-back" and v.carried is False and "cache not fed back" in v.summary

    def test_above_cache_size_and_reset(self) -> None:
        rows = nemo_rows(20)
        rows[10]["cache_len_out"] = 300
        v = describe_trajectory(steps_of(rows), cache_size=256)
        assert any("exceeds the cache size 256 at chunk(s) 10" in p for p in v.problems)
        rows = nemo_rows(20)
        for r in rows[12:]:
            r["cache_len_out"] -= 20
        v = describe_trajectory(steps_of(rows))
        assert any("goes down at chunk(s) 12" in p for p in v.problems)


class TestParsing:
    def test_jsonl_and_json_list(self) -> None:
        jsonl = read_source(DATA / "summary_stateful.jsonl")
        listed = read_source(DATA / "summary_padded_last.json")
        assert (jsonl.format, listed.format) == ("jsonl", "json")
        assert len(parse_summary(jsonl.data)) == 100 and len(parse_summary(listed.data)) == 20

    def test_state_env_maps_lengths_to_reference_names(self) -> None:
        """The contract's rules are written on tensors: cache_len_out is cache_last_channel_len_out (int64 [1])."""
        env = state_env(steps_of(nemo_rows(3))[1])
        assert env["cache_last_channel_len"].tolist() == [1] and env["cache_last_channel_len_out"].tolist() == [4]
        assert env["cache_len_out"] == 4

    def test_bad_summaries(self) -> None:
        with pytest.raises(InspectorError, match="has no integer 'chunk_idx'"):
            parse_summary([{"cache_len_out": 0}])
        with pytest.raises(InspectorError, match="chunk_idx 0 appears twice"):
            parse_summary([{"chunk_idx": 0, "cache_len_out": 0}] * 2)
        with pytest.raises(InspectorError, match="'cache_len_out' must be an integer"):
            parse_summary([{"chunk_idx": 0, "cache_len_out": "zero"}])
        with pytest.raises(InspectorError, match="reference JSONL"):
            parse_summary([{"chunk_idx": 0, "inputs": {}, "outputs": {}}])

    def test_malformed_jsonl_names_the_line(self, tmp_path: Path) -> None:
        bad = tmp_path / "s.jsonl"
        bad.write_text(json.dumps({"chunk_idx": 0, "cache_len_out": 0}) + "\n{\"chunk_idx\": 1,\n")
        with pytest.raises(InspectorError, match=r"line 2, column \d+: not valid JSON"):
            read_source(bad)
