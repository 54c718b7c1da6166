"""One module per runtime behind one small interface (see `backends.base`)."""

from backends.base import (
    Availability, Backend, BackendError, BackendInfo, BackendUnavailable, availability, availability_report,
    backend_names, make_backend,
)

__all__ = [
    "Availability", "Backend", "BackendError", "BackendInfo", "BackendUnavailable", "availability",
    "availability_report", "backend_names", "make_backend",
]
