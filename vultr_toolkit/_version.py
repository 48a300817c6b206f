"""Single source of the package version (read by pyproject and the User-Agent)."""

__version__ = "0.1.0"
