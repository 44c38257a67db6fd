"""Running experiments: the stages of a run, the trainer, metrics, reports and ablation sweeps."""
