"""Errors a user can cause, and how the CLI turns each into one clear paragraph and an exit code."""

from __future__ import annotations


class InspectorError(Exception):
    """A user-facing failure of the inspector itself (bad usage, bad input); exit code 2 unless stated."""

    exit_code = 2


class CheckFailed(InspectorError):
    """Parity or contract checks ran and failed: exit 1."""

    exit_code = 1


class CheckUndetermined(InspectorError):
    """Nothing failed, but a required check could not be decided (or nothing was checked): exit 3."""

    exit_code = 3
