"""Studies built on runs: ablation sweeps, hyper-parameter searches and the selection audit."""
