"""``python -m genrenet.cli``: the same as the ``genrenet`` command."""

from genrenet.cli import app

app()
