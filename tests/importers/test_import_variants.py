"""Parity reports (and streaming summaries, at the end) as another team would plausibly write them: camelCase keys, the per-chunk list nested as
``results.chunks[]`` or as an object keyed by chunk number, numbers and verdicts as text (``"6%"``, ``"FAIL"``),
optional keys left out. Each imports with the very same judgement as the seed's own spelling of the same data, or
is refused naming the key (exit 2). A report that lacks the figures never imports as a pass: the rules it cannot
decide are ``undetermined`` (exit 3).

The contract's invariants can never be decided from a report (it holds no tensors), so every import here accepts
exactly those as undetermined (``--allow-undetermined``): the exit code then speaks for the figure rules alone.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
CONTRACT = DATA / "seed_trt_test.contract.json"
TRT = json.loads((DATA / "trt_fp16.json").read_text())
ORT = json.loads((DATA / "ort_functional_cpu.json").read_text())
INVARIANTS = ["invariants"] + [f"invariant:{i['id']}" for i in json.loads(CONTRACT.read_text())["invariants"]]
FIGURE_RULES = ("encoder_output_p95", "encoder_output_p100", "encoder_output_pass_rate")


def _judge(cli, store_path: Path, tmp_path: Path, doc: Any, name: str) -> tuple[int, dict | None, str]:
    """Import `doc` (written as `name`.json) with the test contract; (exit code, the JSON verdict, all output)."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / f"{name}.verdict.json"
    allow = [a for rule in INVARIANTS for a in ("--allow-undetermined", rule)]
    res = cli("import-run", path, "--store", store_path, "--contract", CONTRACT, "--json", out, *allow)
    verdict = json.loads(out.read_text()) if out.exists() else None
    return res.code, verdict, res.text


def _outcomes(verdict: dict) -> dict[str, tuple[str, Any, Any]]:
    return {r["rule"]: (r["outcome"], r.get("lower"), r.get("upper")) for r in verdict["rule_outcomes"]}


def _camel(key: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)


def _camel_report(doc: dict) -> dict:
    out = {_camel(k): v for k, v in doc.items()}
    for key in ("chunkStats", "failures"):
        if key in out:
            out[key] = [{_camel(k): v for k, v in e.items()} for e in out[key]]
    return out


def _per_chunk_entries(doc: dict) -> dict[int, dict]:
    """The TRT sample's chunk_stats and failures folded into one entry per chunk (another team's layout)."""
    errors = {f["chunk"]: f["errors"] for f in doc["failures"]}
    return {s["chunk"]: {"maxAbs": s["encoder_output_max_abs"], "meanAbs": s["encoder_output_mean_abs"],
                         "status": "PASS" if s["passed"] else "FAIL", "errors": errors.get(s["chunk"], [])}
            for s in doc["chunk_stats"]}


def _passing_trt() -> dict:
    """The TRT sample, functional, every chunk well within the contract: the seed's spelling passes."""
    doc = copy.deepcopy(TRT)
    doc.update(mode="functional", failures=[], passed=50, failed=0, pass_rate=100.0)
    for i, stat in enumerate(doc["chunk_stats"]):
        stat.update(encoder_output_max_abs=1e-5 * (1 + i % 7), encoder_output_mean_abs=1e-6, passed=True)
    return doc


def _variants(doc: dict) -> dict[str, dict]:
    chunks = _per_chunk_entries(doc)
    keep = {k: doc[k] for k in ("mode", "providers", "onnx", "ref", "engine", "zero_feed_cache", "atol", "rtol",
                                "cache_atol")}
    as_text = copy.deepcopy(doc)
    as_text.update(total_chunks=str(doc["total_chunks"]), passed=str(doc["passed"]), failed=str(doc["failed"]),
                   pass_rate=f"{doc['pass_rate']}%", atol=str(doc["atol"]))
    for stat in as_text["chunk_stats"]:
        stat.update(chunk=str(stat["chunk"]), encoder_output_max_abs=repr(stat["encoder_output_max_abs"]),
                    passed="true" if stat["passed"] else "false")
    sparse = {k: v for k, v in doc.items() if k not in ("total_chunks", "passed", "failed", "pass_rate", "timing_ms",
                                                         "encoder_output_error_distribution", "zero_feed_cache")}
    return {
        "camel_case": _camel_report(doc),
        "results_chunks_list": {**keep, "results": {"totalChunks": doc["total_chunks"],
                                                    "chunks": [{"index": i, **e} for i, e in chunks.items()]}},
        "chunks_keyed_by_index": {**keep, "chunks": {str(i): e for i, e in chunks.items()}},
        "numbers_as_text": as_text,
        "optional_keys_missing": sparse,
    }


@pytest.mark.parametrize("variant", ["camel_case", "results_chunks_list", "chunks_keyed_by_index",
                                     "numbers_as_text", "optional_keys_missing"])
@pytest.mark.parametrize("base", ["failing", "passing"])
def test_a_variant_is_judged_as_the_seeds_own_spelling(cli, store_path: Path, tmp_path: Path, variant: str,
                                                       base: str) -> None:
    doc = copy.deepcopy(TRT) if base == "failing" else _passing_trt()
    code, want, text = _judge(cli, store_path, tmp_path, doc, "seed")
    assert code == (1 if base == "failing" else 0), text
    code_v, got, text_v = _judge(cli, store_path, tmp_path, _variants(doc)[variant], variant)
    assert got is not None, text_v
    assert (code_v, got["outcome"]) == (code, want["outcome"]), text_v
    assert {r: _outcomes(got)[r] for r in FIGURE_RULES} == {r: _outcomes(want)[r] for r in FIGURE_RULES}
    assert got["figures"]["encoder_output_max_abs_known_chunks"] == 50
    assert got["backend"] == want["backend"] == "trt-fp16"


def test_ort_failures_keyed_by_chunk_number_in_camel_case(cli, store_path: Path, tmp_path: Path) -> None:
    code, want, _ = _judge(cli, store_path, tmp_path, ORT, "seed_ort")
    doc = {_camel(k): v for k, v in ORT.items() if k != "failures"}
    doc["failures"] = {str(f["chunk"]): {k: v for k, v in f.items() if k != "chunk"} for f in ORT["failures"]}
    code_v, got, text = _judge(cli, store_path, tmp_path, doc, "ort_variant")
    assert got is not None, text
    assert code_v == code and _outcomes(got) == _outcomes(want)
    assert got["failures_per_tensor"] == want["failures_per_tensor"]


def test_verdicts_without_figures_and_no_tolerance_are_undetermined(cli, store_path: Path, tmp_path: Path) -> None:
    """Every chunk says PASS, but no max-abs and no atol: nothing bounds the figure, so nothing passes."""
    doc = {"mode": "functional", "engine": "enc_fp16.engine",
           "results": {"chunks": [{"chunk": i, "status": "PASS"} for i in range(50)]}}
    code, verdict, text = _judge(cli, store_path, tmp_path, doc, "no_figures")
    assert code == 3, text
    assert {_outcomes(verdict)[r][0] for r in FIGURE_RULES} == {"undetermined"}


def test_chunks_listed_with_neither_figure_nor_verdict_are_unknown(cli, store_path: Path, tmp_path: Path) -> None:
    """No failures list, so a chunk's silence does not mean it passed, even at a tight atol that would pass."""
    doc = {"mode": "functional", "engine": "enc_fp16.engine", "atol": 1e-4, "rtol": 0.0,
           "chunks": {str(i): {"note": "ran"} for i in range(50)}}
    code, verdict, text = _judge(cli, store_path, tmp_path, doc, "no_verdicts")
    assert code == 3, text
    assert {_outcomes(verdict)[r][0] for r in FIGURE_RULES} == {"undetermined"}
    assert "neither an encoder_output figure nor a passed flag" in text


@pytest.mark.parametrize("change, named", [
    (lambda d: d.update(chunks={"first": {"maxAbs": 1e-4}}) or d.pop("chunk_stats"), "chunks.first"),
    (lambda d: d["chunk_stats"][3].update(passed="maybe"), "chunk_stats[3].passed"),
    (lambda d: d.update(totalChunks=49), "'total_chunks' and 'totalChunks'"),
    (lambda d: d.update(chunks=[{"chunk": 0, "maxAbs": 1e-4}]), "both 'chunks' and 'chunk_stats'"),
    (lambda d: d.update(results={"failures": []}, run={"failures": []}) or d.pop("failures"),
     "'failures' is given under 'results' and 'run'"),
])
def test_a_value_that_cannot_mean_its_key_is_refused_naming_it(cli, store_path: Path, tmp_path: Path, change,
                                                                named: str) -> None:
    doc = copy.deepcopy(TRT)
    change(doc)
    code, verdict, text = _judge(cli, store_path, tmp_path, doc, "bad")
    assert code == 2 and named in text and "Traceback" not in text, text
    assert verdict is None


def test_more_failures_claimed_than_listed_leaves_the_unlisted_chunks_unknown(cli, store_path: Path,
                                                                            tmp_path: Path) -> None:
    """The same ORT report passes when it lists no failure and says so, but says failed=2 without listing them: any
    unlisted chunk may be one of the two, so its max-abs is unknown and the figure rules are not decided."""
    clean = {**copy.deepcopy(ORT), "failures": [], "passed": 49, "failed": 0, "pass_rate": 100.0}
    code, verdict, text = _judge(cli, store_path, tmp_path, clean, "clean")
    assert code == 0 and {_outcomes(verdict)[r][0] for r in FIGURE_RULES} == {"pass"}, text
    unlisted = {**clean, "passed": 47, "failed": 2, "pass_rate": 95.9}
    code, verdict, text = _judge(cli, store_path, tmp_path, unlisted, "unlisted")
    assert code == 3, text
    assert "pass" not in {_outcomes(verdict)[r][0] for r in FIGURE_RULES}
    assert "the chunks not listed may have failed" in text


# --- streaming summaries -------------------------------------------------------------------------------------------

SUMMARY = [json.loads(line) for line in (DATA / "summary_stateful.jsonl").read_text().splitlines() if line.strip()]


def _summary_judgement(cli, store_path: Path, path: Path, out: Path) -> tuple[int, dict, str]:
    res = cli("import-run", path, "--store", store_path, "--contract", CONTRACT, "--json", out)
    assert out.exists(), res.text
    verdict = json.loads(out.read_text())
    return res.code, {v["rule"]: v["status"] for v in verdict["verdicts"]}, verdict["state_trajectory"]["summary"]


def _summary_variants() -> dict[str, Any]:
    camel_text = [{_camel(k): (str(v) if isinstance(v, int) else v) for k, v in s.items()} for s in SUMMARY]
    by_index = {str(s["chunk_idx"]): {k: v for k, v in s.items() if k != "chunk_idx"} for s in SUMMARY}
    return {
        "camel_case_numbers_as_text": camel_text,
        "results_chunks_keyed_by_index": {"model": "parakeet", "results": {"chunks": by_index}},
        "steps_with_chunk_key": {"steps": [{"chunk": s["chunk_idx"], **{k: v for k, v in s.items()
                                                                         if k != "chunk_idx"}} for s in SUMMARY]},
    }


@pytest.mark.parametrize("variant", ["camel_case_numbers_as_text", "results_chunks_keyed_by_index",
                                     "steps_with_chunk_key"])
def test_a_summary_variant_is_judged_as_the_seeds_own(cli, store_path: Path, tmp_path: Path, variant: str) -> None:
    want = _summary_judgement(cli, store_path, DATA / "summary_stateful.jsonl", tmp_path / "seed.verdict.json")
    path = tmp_path / f"{variant}.json"
    path.write_text(json.dumps(_summary_variants()[variant]))
    got = _summary_judgement(cli, store_path, path, tmp_path / "variant.verdict.json")
    assert got == want
    assert want[1]["invariant:cache_len_grows"] == "pass" and "grows by 3 per chunk" in want[2]


def test_a_summary_with_two_spellings_of_one_key_is_refused_naming_both(cli, store_path: Path, tmp_path: Path) -> None:
    lines = [dict(s) for s in SUMMARY]
    lines[4]["cacheLenOut"] = lines[4]["cache_len_out"] + 1
    path = tmp_path / "both.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in lines))
    res = cli("import-run", path, "--store", store_path)
    assert res.code == 2 and "record 5" in res.err and "cache_len_out" in res.err and "cacheLenOut" in res.err
