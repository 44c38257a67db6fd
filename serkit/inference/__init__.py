"""Using a trained model: load a run folder, predict, export; output formats for ``serkit predict``."""

from serkit.inference.predictor import Prediction, Predictor, Window, audio_files, load

__all__ = ["Prediction", "Predictor", "Window", "audio_files", "load"]
