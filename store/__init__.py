"""Reference JSONL → chunked, compressed Zarr store with random access per chunk, plus every run's results.

Public API: `store.Store` (see `store.api` for the layout and the protocol it implements) and `store.StoreError`.
"""

from store.api import RunRecord, StoreError, TensorInfo

__all__ = ["RunRecord", "StoreError", "TensorInfo", "Store"]


def __getattr__(name: str):  # keep `import store` cheap: zarr loads on first use of Store
    if name == "Store":
        from store.zarr_store import Store

        return Store
    raise AttributeError(name)
