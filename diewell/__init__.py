"""diewell: the palliative and end-of-life care ("Die well") reporting pipeline."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("diewell")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
