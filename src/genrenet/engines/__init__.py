"""Engines that run genrenet's batch jobs beyond one process: :mod:`genrenet.engines.ray`
(predict, tag) and :mod:`genrenet.engines.ray_cache` (extract, embed)."""
