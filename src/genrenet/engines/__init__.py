"""Engines that run genrenet's batch jobs beyond one process: :mod:`genrenet.engines.ray`."""
