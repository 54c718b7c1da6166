"""The one exception type of the contracts package."""


class ContractError(Exception):
    """A contract document is invalid or does not match a model; the message names the key and the problem."""
