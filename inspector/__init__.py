"""parity-inspector: prove that a streaming encoder export computes what its PyTorch original does."""

__version__ = "0.1.0"
