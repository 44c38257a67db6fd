"""Audio I/O, the feature cache, the per-file pipeline, normalisation and fold plans."""
