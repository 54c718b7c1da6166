"""Reference JSONL → chunked, compressed Zarr store with random access per chunk, plus every run's results.

Public API: `store.Store` (see `store.api` for the layout and the protocol it implements), `store.StoreError`, and
`store.JsonlError` (a bad reference file; a StoreError naming file, line, stream, chunk and tensor).
Conversion: `store.convert.convert`; reading reference files directly: `store.jsonl.read_reference`.
"""

from store.api import RunRecord, StoreError, TensorInfo
from store.errors import JsonlError

__all__ = ["JsonlError", "RunRecord", "StoreError", "TensorInfo", "Store"]


def __getattr__(name: str):  # keep `import store` cheap: zarr loads on first use of Store
    if name == "Store":
        from store.zarr_store import Store

        return Store
    raise AttributeError(name)
