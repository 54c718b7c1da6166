"""Diagnostics: why one chunk differs, and whether it matters.

Public entry points (all take an open `store.Store` and a `contracts.Contract`; backends must be active):

- `cache_time.diagnose_cache_time(store, contract, backend, chunk, *, stream=None, backend_outputs=None,
  propagation_chunks=3, seed=0, progress=None) -> CacheTimeReport` — the four `cache_last_time` checks and a
  verdict (`.to_dict()` for JSON, `.render()` for text);
- `triage.triage_chunk(store, contract, chunk, model, *, stream=None, backend="ort-cpu", baseline="ort-cpu",
  baseline_model=None, ...) -> TriageReport` (or `triage.triage(model, feeds, ...)` on model-name feeds) — the
  first diverging ONNX node;
- `bundle.export_chunk(store, chunk, out_dir, *, stream=None, contract=None, backend=None, model=None) -> Path`
  and `bundle.load_bundle(path)` — the reproduction bundle;
- `perturb.probe_input(backend, feeds, input_name, replacements, ...) -> ProbeResult` — re-run a chunk with one
  input replaced and measure how far each output moves (used by the activity check and by `inspector.state`).
"""
