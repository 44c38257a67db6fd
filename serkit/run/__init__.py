"""Running a recipe: the stages, the runner, the executors (local and Ray), tracking and the outputs."""
