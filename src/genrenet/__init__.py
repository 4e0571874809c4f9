"""genrenet: music genre classification."""

__version__ = "0.1.0"
