"""Where tracks come from (folders, CSV, GTZAN, FMA, synthetic genres) and the feature store."""

from genrenet.data.sources import open_collection
from genrenet.data.tracks import Collection, Skipped, Track

__all__ = ["Collection", "Skipped", "Track", "open_collection"]
