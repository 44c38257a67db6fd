"""Learning: the trainer (Adam, early stopping, precision, checkpoints) and the learner of a torch model."""
