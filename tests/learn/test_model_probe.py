"""A model plugin's module is probed when it is built, before any training: an output of the wrong width is one
line naming the model and its package, and outputs that already sum to one (a softmax) are a warning with the fix."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from helpers import RAVDESS, ROOT, need

from serkit import Model, hookimpl, param
from serkit.cli import cli
from serkit.learn.torch_learner import probe_outputs


@dataclass(frozen=True, kw_only=True)
class Narrow(Model):
    """Pools the image and returns three outputs whatever the number of classes (wrong)."""

    name = "narrow"
    width: int = param(3, "outputs it returns", ge=1)

    def build(self, input_shape, n_classes):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(self.width))


@dataclass(frozen=True, kw_only=True)
class Softmaxed(Model):
    """Ends in a softmax (wrong: serkit's loss takes logits)."""

    name = "softmaxed"

    def build(self, input_shape, n_classes):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(n_classes), torch.nn.Softmax(dim=1))


class Models:
    @hookimpl
    def register_models(self, register):
        register(Narrow)
        register(Softmaxed)


def run_args(tmp_path, model: str) -> list[str]:
    args = ["run", str(ROOT / "recipes" / "tiny.toml"), "--set", f"dataset.root={need(RAVDESS)}"]
    for override in (f"model={{name = '{model}'}}", "train.max_epochs=1", "augment=[]", "report.explain=false"):
        args += ["--set", override]
    return [*args, "--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}"]


def test_an_output_of_the_wrong_width_stops_the_run_before_training(cli_runner, tmp_path, register_plugin):
    register_plugin(Models(), "serkit-test-models")
    result = cli_runner.invoke(cli, run_args(tmp_path, "narrow"))
    assert result.exit_code == 1
    line = " ".join(result.output.split())
    assert "model 'narrow' (serkit-test-models" in line and "failed to build for input (1, 64, 94)" in line
    assert "returned outputs of shape (2, 3) for a batch of 2 inputs; it must return (batch, 8): 8 logit(s)" in line
    assert "train random 1/1" not in result.output  # nothing trained


def test_outputs_that_sum_to_one_are_a_warning_naming_the_fix(cli_runner, tmp_path, register_plugin):
    register_plugin(Models(), "serkit-test-models")
    result = cli_runner.invoke(cli, run_args(tmp_path, "softmaxed"))
    assert result.exit_code == 0, result.output
    assert "drop the final softmax" in " ".join(result.output.split())


def test_the_probe_changes_no_state_of_the_module_or_of_torch():
    module = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(12, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout()
    )
    before = {k: v.clone() for k, v in module.state_dict().items()}
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert probe_outputs(module, (3, 4), 4, "classification") == ""
    assert torch.equal(torch.rand(3), expected) and module.training
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
