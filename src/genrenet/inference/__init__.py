"""Using a trained model on songs: windowed prediction over files of any length
(:mod:`.predictor`), decoding ahead on threads (:mod:`.prefetch`) and musicnn's tags
(:mod:`.tagging`)."""
