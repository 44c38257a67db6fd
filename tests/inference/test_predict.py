"""Using a trained model: `serkit predict`, long recordings, export, and the Python API, on real audio."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import serkit
from serkit.cli import cli
from serkit.data.pipeline import extract, preprocess

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def trained(tmp_path_factory, request) -> Path:
    """A run folder of the tiny recipe (1.5 s clips at 16 kHz), trained for one epoch in each CPU
    precision (bf16 is what ``auto`` picks on CPUs with native bf16; forced, it runs on any CPU); the
    bf16 run is calibrated by temperature scaling, so predict and export are tried with and without."""
    from click.testing import CliRunner
    from helpers import RAVDESS, need

    tmp = tmp_path_factory.mktemp("trained")
    args = [
        "run",
        str(RECIPES / "tiny.toml"),
        "--set",
        f"dataset.root={need(RAVDESS)}",
        "--set",
        "train.max_epochs=1",
        "--set",
        f"train.precision={request.param}",
        "--set",
        "run.device=cpu",
        "--set",
        f"run.output={tmp / 'runs'}",
        "--set",
        f"run.cache_dir={tmp / 'cache'}",
        "--set",
        f"calibrate.method={'temperature' if request.param == 'bf16' else 'none'}",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp / "runs").iterdir()
    assert json.loads((run_dir / "metrics.json").read_text())["precision"] == request.param
    return run_dir


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory) -> Path:
    """About 15 s of real speech: four RAVDESS files one after another."""
    from helpers import RAVDESS, need

    files = sorted((need(RAVDESS) / "Actor_02").glob("*.wav"))[::15][:4]
    path = tmp_path_factory.mktemp("long") / "long.wav"
    soundfile.write(path, np.concatenate([soundfile.read(f)[0] for f in files]), 48000)
    return path


def invoke(cli_runner, *args):
    return cli_runner.invoke(cli, [*map(str, args)], env={"COLUMNS": "250"})


def test_predict_files_and_folders(cli_runner, trained, ravdess_root):
    folder = ravdess_root / "Actor_01"
    result = invoke(
        cli_runner, "predict", trained, folder, ravdess_root / "Actor_02" / "03-01-05-02-01-01-02.wav", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    labels = json.loads((trained / "model.json").read_text())["labels"]
    assert len(data["predictions"]) == 61 and data["errors"] == []
    for prediction in data["predictions"]:
        assert list(prediction["probabilities"]) == labels
        assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-4)
        assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
    stereo = next(p for p in data["predictions"] if p["file"].endswith("03-01-02-01-01-02-01.wav"))
    assert "mixed down from 2 channels" in stereo["notes"] and "resampled from 48000 Hz to 16000 Hz" in stereo["notes"]
    table = invoke(cli_runner, "predict", trained, folder / "03-01-01-01-01-01-01.wav").output
    assert "03-01-01-01-01-01-01.wav" in table and "emotion" in table


def test_python_api_matches_the_command(trained, ravdess_file):
    predictor = serkit.load(trained)
    wave, rate = soundfile.read(ravdess_file, dtype="float32")
    from_array = predictor.predict(wave, rate)
    from_file = predictor.predict_file(ravdess_file)
    assert from_array.probabilities == from_file.probabilities
    assert from_array.label in predictor.labels and not from_array.windows
    stereo = predictor.predict(np.stack([wave, wave], axis=1), rate)
    assert stereo.probabilities == pytest.approx(from_array.probabilities, abs=1e-5)


def test_the_runs_test_predictions_are_what_predict_gives(trained, ravdess_root):
    """In either training precision, the saved model predicts its test clips as the run reported
    (clips predict treats as one training clip; it windows longer ones)."""
    with open(trained / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    predictor = serkit.load(trained)
    compared = 0
    for row in rows:
        prediction = predictor.predict_file(ravdess_root / row["file"])
        if prediction.windows:
            continue
        got = [prediction.probabilities[label] for label in predictor.labels]
        assert got == pytest.approx([float(row[f"p_{label}"]) for label in predictor.labels], abs=1e-5)
        compared += 1
    assert compared >= 5


def test_short_clip_is_padded_as_in_training(trained, ravdess_file):
    wave, rate = soundfile.read(ravdess_file, dtype="float32")
    short = serkit.load(trained).predict(wave[int(1.2 * rate) : int(1.8 * rate)], rate)
    assert any("shorter than the training clips" in note for note in short.notes)
    assert sum(short.probabilities.values()) == pytest.approx(1, abs=1e-4)


def test_long_recording_gets_a_timeline(cli_runner, trained, long_recording, tmp_path):
    result = invoke(cli_runner, "predict", trained, long_recording, "--json", "--hop", "1.0", "--plot", tmp_path)
    assert result.exit_code == 0, result.output
    (prediction,) = json.loads(result.stdout)["predictions"]
    windows = prediction["windows"]
    duration = soundfile.info(long_recording).duration
    assert len(windows) == int((duration - 1.5) // 1.0) + 2  # every hop, plus one ending with the recording
    assert [w["start"] for w in windows] == sorted(w["start"] for w in windows) and windows[0]["start"] == 0
    assert windows[-1]["end"] == pytest.approx(duration, abs=1e-3)
    assert all(w["end"] - w["start"] == pytest.approx(1.5) for w in windows)
    assert all(sum(w["smoothed"].values()) == pytest.approx(1, abs=1e-3) for w in windows)
    assert (tmp_path / "long.timeline.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.reader(io.StringIO(invoke(cli_runner, "predict", trained, long_recording, "--csv").stdout)))
    assert rows[0][:4] == ["file", "start", "end", "emotion"] and len(rows) == 1 + 1 + int((duration - 1.5) // 0.75) + 2


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_gives_the_same_probabilities(cli_runner, trained, ravdess_file, tmp_path, fmt):
    out = tmp_path / f"model.{fmt}"
    result = invoke(cli_runner, "export", trained, "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    description = json.loads(out.with_name(f"{out.name}.json").read_text())
    predictor = serkit.load(trained)
    assert description["output"]["labels"] == predictor.labels and description["window_seconds"] == 1.5
    assert [p["name"] for p in description["preprocess"]] == ["resample", "trim_silence", "wiener", "fix_length"]
    path = str(ravdess_file)
    features = extract(predictor.pipeline, path, *preprocess(predictor.pipeline, path, predictor.recipe.preprocess))
    expected = np.array(list(predictor.predict_file(path).probabilities.values()))
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out))
        got = session.run(None, {"features": features[None].astype(np.float32)})[0][0]
    else:
        got = torch.jit.load(str(out))(torch.from_numpy(features[None].astype(np.float32)))[0].detach().numpy()
    assert np.allclose(got, expected, atol=1e-4)


def test_bad_input(cli_runner, trained, ravdess_file, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF garbage")
    result = invoke(cli_runner, "predict", trained, ravdess_file, bad, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert len(data["predictions"]) == 1 and data["errors"] == [
        f"{bad}: cannot read audio (Error opening '{bad}': Format not recognised.)"
    ]
    assert f"Error: {bad}: cannot read audio" in result.stderr
    broken = tmp_path / "run"
    shutil.copytree(trained, broken)
    (broken / "model.pt").unlink()
    result = invoke(cli_runner, "predict", broken, ravdess_file)
    assert result.exit_code == 1 and "not a complete serkit run folder (missing model.pt)" in result.output
    (broken / "model.pt").write_bytes((trained / "model.pt").read_bytes())
    info = json.loads((broken / "model.json").read_text())
    (broken / "model.json").write_text(json.dumps({"version": 99, "weights": info["weights"]}))
    result = invoke(cli_runner, "predict", broken, ravdess_file)
    assert result.exit_code == 1 and "from an incompatible serkit version" in result.output
    result = invoke(cli_runner, "predict", tmp_path / "nowhere", ravdess_file)
    assert result.exit_code == 1 and "run folder does not exist" in result.output
    result = invoke(cli_runner, "export", trained, "--format", "onnx", "--out", trained / "model.json")
    assert result.exit_code == 1 and "would overwrite a file of the run folder" in result.output
