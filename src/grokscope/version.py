"""The package version (one place: the package, run summaries and --version read it)."""
__version__ = "0.1.0"
