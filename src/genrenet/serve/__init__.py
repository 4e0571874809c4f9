"""``genrenet serve``: a JSON API and a web page over a genre model (FastAPI, run by uvicorn).

:func:`create_app` builds the application (importable for FastAPI's ``TestClient``);
:class:`ServeSettings` says which model, which tagger, the upload limit, the token and how many
inferences run at once. Needs the ``serve`` extra: ``pip install 'genrenet[serve]'``.
"""

from genrenet.serve.app import create_app
from genrenet.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
