"""The ``genrenet`` command line: thin commands over the Python API.

``app`` (the console script's entry point) lives in :mod:`genrenet.cli.app`; the commands in
:mod:`~genrenet.cli.data`, :mod:`~genrenet.cli.experiments`, :mod:`~genrenet.cli.inference` and
:mod:`~genrenet.cli.demo`, their shared helpers and options in :mod:`~genrenet.cli.common`.
"""

from genrenet.cli.app import app

__all__ = ["app"]
