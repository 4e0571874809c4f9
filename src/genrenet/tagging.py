"""``genrenet.tagging``: the public import path of :class:`Tagger` (it lives in
:mod:`genrenet.inference.tagging`)."""

from genrenet.inference.tagging import Tagger

__all__ = ["Tagger"]
