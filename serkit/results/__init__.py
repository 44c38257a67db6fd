"""Results: the run folder and its documents, metrics, statistics, reports, and listing and comparing runs."""
