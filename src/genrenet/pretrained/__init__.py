"""Networks pretrained on music (musicnn), read from their original checkpoints."""
