"""Corpora: the synthetic eSpeak NG corpus, downloads of the published ones, and ``serkit data check``."""
