"""``serkit export``: a trained model as ONNX or TorchScript, with a JSON of its preprocessing and labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from serkit.core.errors import SerkitError
from serkit.core.fileio import require_writable, write_json
from serkit.core.version import __version__
from serkit.data.normalise import ZScore

if TYPE_CHECKING:
    from serkit.inference.predictor import Predictor
    from serkit.results.folder import RunFolder


def export_model(predictor: Predictor, fmt: str, out: str | Path | None = None) -> tuple[Path, Path]:
    """Write a self-contained model (normalisation, the calibration's temperature and softmax inside) and a
    JSON description."""
    module = getattr(predictor.learner, "module", None)
    if not isinstance(module, torch.nn.Module):
        raise SerkitError(
            f"model '{predictor.recipe.model.name}' is not a torch module: ONNX and TorchScript export apply to torch "
            "models only; use its run folder with serkit predict or serkit.load()"
        )
    if fmt == "pretrained":
        return _export_pretrained(predictor, module, out)
    if predictor.normaliser is None:
        raise SerkitError(
            f"{predictor.run_dir}: this run normalises each speaker by its own statistics, which an exported model "
            'cannot carry; export a run trained with normalise.scope = "band" or "global"'
        )
    if fmt not in ("onnx", "torchscript"):
        raise SerkitError(f"--format: unknown format '{fmt}' (onnx, torchscript or pretrained)")
    target = Path(out) if out else predictor.run.export_file(fmt)
    description = target.with_name(f"{target.name}.json")
    for path in (target, description):
        if _belongs_to_the_run(path, predictor.run):
            raise SerkitError(f"--out: {path} would overwrite a file of the run folder; choose another name")
    require_writable(target.parent, "the folder to export into")
    temperature = predictor.calibration.temperature if predictor.calibration else 1.0
    classes = len(predictor.labels) if predictor.targets else 0  # a joint task's: softmax over these only
    wrapper = Exported(module, predictor.normaliser, temperature, predictor.card.regression, classes).eval()
    waveform = predictor.recipe.features.output_shape() == "waveform"  # any length: the encoder's time axis
    _write_model(wrapper, torch.zeros(1, *predictor.input_shape), fmt, target, waveform)
    write_json(description, _description(predictor, fmt, target))
    return target, description


def _export_pretrained(predictor: Predictor, module: torch.nn.Module, out: str | Path | None) -> tuple[Path, Path]:
    """The fine-tuned encoder in its library's own format (a model whose module has ``save_pretrained``), usable
    outside serkit (e.g. as the ``ssl`` extractor's checkpoint); the classification head stays in the run."""
    save = getattr(module, "save_pretrained", None)
    if not callable(save):
        raise SerkitError(
            f"--format pretrained: model '{predictor.recipe.model.name}' has no pretrained encoder to save "
            "(ssl_finetune has); use onnx or torchscript"
        )
    target = Path(out) if out else predictor.run.export_file("pretrained")
    if target.exists() and any(target.iterdir()):
        raise SerkitError(f"--out: {target} exists and is not empty; choose another folder")
    require_writable(target.parent, "the folder to export into")
    save(target)
    description = target / "serkit.json"
    write_json(description, _description(predictor, "pretrained", target))
    return target, description


def _write_model(wrapper: torch.nn.Module, example: torch.Tensor, fmt: str, target: Path, timed: bool) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            torch.jit.trace(wrapper, example).save(str(target))
        else:
            try:
                import onnx  # noqa: F401
            except ImportError as exc:
                raise SerkitError("ONNX export needs the onnx package: pip install 'serkit[export]'") from exc
            torch.onnx.export(
                wrapper,
                (example,),
                str(target),
                input_names=["features"],
                output_names=["probabilities"],
                dynamo=False,
                dynamic_axes={
                    "features": {0: "batch", **({1: "samples"} if timed else {})},
                    "probabilities": {0: "batch"},
                },
            )


def _description(predictor: Predictor, fmt: str, target: Path) -> dict[str, object]:
    """The JSON beside an exported model: its input and output, and the preprocessing it expects."""
    recipe = predictor.recipe.to_dict()
    return {
        "format": fmt,
        "model_file": target.name,
        "input": {
            "name": "features",
            "shape": ["batch", "samples"]
            if predictor.recipe.features.output_shape() == "waveform" and fmt == "onnx"
            else ["batch", *predictor.input_shape],
            "dtype": "float32",
            "normalised_inside": True,
        },
        "output": _output_description(predictor),
        "preprocess": recipe["preprocess"],
        "features": recipe["features"],
        "window_seconds": predictor.window_seconds,
        "normaliser": predictor.card.normaliser,
        "serkit_version": __version__,
        "run": str(predictor.run_dir),
    }


def _output_description(predictor: Predictor) -> dict[str, Any]:
    """What the exported model's one output holds, column by column."""
    if predictor.card.regression:
        return {
            "name": "probabilities",
            "holds": "the value of each target (a regression)",
            "targets": predictor.labels,
        }
    if predictor.targets:
        return {
            "name": "probabilities",
            "holds": "the classes' probabilities (softmax), then the value of each target (a joint task's two heads)",
            "labels": predictor.labels,
            "targets": predictor.targets,
        }
    return {"name": "probabilities", "labels": predictor.labels, "calibration": predictor.card.calibration}


def _belongs_to_the_run(path: Path, run: RunFolder) -> bool:
    """Whether writing ``path`` would replace a file another stage wrote into the run folder (an
    earlier export's own files may be replaced)."""
    resolved, folder = path.resolve(), run.path.resolve()
    if run.protects(resolved):
        return True
    if not resolved.is_relative_to(folder) or not resolved.exists():
        return False
    description = resolved if resolved.name.endswith(".json") else resolved.with_name(f"{resolved.name}.json")
    try:
        earlier = json.loads(description.read_text(encoding="utf-8"))
        return not (isinstance(earlier, dict) and "format" in earlier and "model_file" in earlier)
    except (OSError, ValueError):
        return True


class Exported(torch.nn.Module):
    """Raw features in, class probabilities out: z-score, the model, softmax of the logits over the
    calibration's temperature (1 where the run was not calibrated); a regression's values out as they are; a
    joint task's probabilities of its first ``classes`` outputs, then its values."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        model: torch.nn.Module,
        normaliser: ZScore,
        temperature: float = 1.0,
        regression: bool = False,
        classes: int = 0,
    ) -> None:
        super().__init__()
        self.model = model
        self.temperature = float(temperature)
        self.regression = regression
        self.classes = classes
        self.register_buffer("mean", torch.from_numpy(np.asarray(normaliser.mean, np.float32)))
        self.register_buffer("std", torch.from_numpy(np.asarray(normaliser.std, np.float32)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        outputs = self.model((features - self.mean) / self.std)
        if self.regression:
            return outputs
        if self.classes:
            logits, values = outputs[:, : self.classes], outputs[:, self.classes :]
            return torch.cat([torch.softmax(logits / self.temperature, dim=1), values], dim=1)
        return torch.softmax(outputs / self.temperature, dim=1)
