"""Outside a terminal (CI, nohup, a batch job) a run prints one line per epoch as it goes."""

from __future__ import annotations

import re

from helpers import RAVDESS, need, tiny_run_args

from serkit.cli import cli


def test_a_run_outside_a_terminal_prints_a_line_per_epoch(cli_runner, tmp_path):
    args = tiny_run_args(need(RAVDESS), tmp_path, "augment=[]", "train.max_epochs=2", "train.patience=5")
    result = cli_runner.invoke(cli, args)  # CliRunner's output is not a terminal
    assert result.exit_code == 0, result.output
    epochs = re.findall(
        r"^train random (\d)/2: loss [\d.]+, val loss [\d.]+, val UAR [\d.]+ %, [\d.]+ s \(\d+ s(, at most \d+ s to 2: "
        r"it may stop sooner)?\)$",
        result.output,
        re.M,
    )
    assert [e[0] for e in epochs] == ["1", "2"], result.output
    assert epochs[0][1].startswith(", at most")  # an upper bound while epochs remain: early stopping may end sooner
