"""The plugin packages in plugins/ work in a real recipe (CI installs them; skipped where they are not)."""

from __future__ import annotations

import json

import pytest
from helpers import tiny_run_args

from serkit.cli import cli


@pytest.mark.slow
def test_recipe_with_room_simulation_and_specaugment_runs_on_real_audio(cli_runner, ravdess_root, tmp_path):
    pytest.importorskip("serkit_roomsim", reason="pip install ./plugins/serkit-roomsim")
    pytest.importorskip("serkit_specaugment", reason="pip install ./plugins/serkit-specaugment")
    augment = (
        'augment=[{name = "room_sim", rt60_min = 0.3, rt60_max = 0.6}, '
        '{name = "spec_augment", time_masks = 2, freq_masks = 2}]'
    )
    args = tiny_run_args(ravdess_root, tmp_path, augment, "train.max_epochs=1")
    result = cli_runner.invoke(cli, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["fold"]["augmented"] == 2 * metrics["fold"]["fit"]
    assert "room_sim(" in metrics["pipeline"] and "spec_augment(" in metrics["pipeline"]
    environment = json.loads((run_dir / "environment.json").read_text())
    assert environment["components"]["augment:room_sim"].startswith("serkit-roomsim ")
    assert environment["components"]["augment:spec_augment"].startswith("serkit-specaugment ")
