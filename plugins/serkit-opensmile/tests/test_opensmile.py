import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("opensmile", reason="install it: pip install ./plugins/serkit-opensmile")

import opensmile
from serkit_opensmile import OpenSmile

from serkit.cli import cli
from serkit.plugins import get_registry
from serkit.testing import check_component, speech_like


@pytest.mark.parametrize(("feature_set", "level"), [("eGeMAPSv02", "functionals"), ("eGeMAPSv02", "lld")])
def test_contract(feature_set, level):
    check_component(OpenSmile(feature_set=feature_set, level=level))


def test_values_are_opensmiles_own():
    wave = speech_like(16000, seconds=2.0)
    direct = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    ).process_signal(wave, 16000)
    features = OpenSmile()(wave, 16000)
    assert features.shape == (88,) and np.array_equal(features, direct.to_numpy(np.float32)[0])
    assert OpenSmile().columns() == list(direct.columns)
    frames = OpenSmile(level="lld")(wave, 16000)
    assert frames.shape[1] == 25 and 190 <= frames.shape[0] <= 200  # 10 ms hop over 2 s


def test_shapes_and_storage_follow_the_level():
    assert OpenSmile().output_shape() == "vector" and OpenSmile(level="lld").output_shape() == "sequence"
    assert OpenSmile().storage_dtype() == "float32"
    compare = OpenSmile(feature_set="ComParE_2016")(speech_like(16000), 16000)
    assert compare.shape == (6373,) and np.abs(compare).max() > np.finfo(np.float16).max  # float16 would overflow


def test_registered_and_versioned_in_the_cache_key():
    entry = get_registry().entries["feature_extractors"]["opensmile"]
    assert entry.cls is OpenSmile and entry.provider.distribution == "serkit-opensmile"
    assert OpenSmile().identity()["opensmile"] == opensmile.__version__


# -- end to end, on the real corpora in ../shared -------------------------------------------------

ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("SERKIT_SHARED", ROOT.parent / "shared")).resolve()


def _corpus(name: str) -> Path:
    path = SHARED / "datasets" / name
    if not path.is_dir():
        pytest.skip(f"real corpus not found at {path} (set SERKIT_SHARED to the folder holding datasets/)")
    return path


def _run(tmp: Path, recipe: str, *overrides: str) -> Path:
    args = ["run", str(ROOT / "recipes" / recipe)]
    for override in (*overrides, f"run.output={tmp / 'runs'}", f"run.cache_dir={tmp / 'cache'}"):
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return next((tmp / "runs").iterdir())


def test_the_egemaps_svm_recipe_on_emodb_leave_one_speaker_out_and_predict(tmp_path):
    emodb = _corpus("emodb/wav")
    run = _run(tmp_path, "egemaps-svm.toml", f"dataset.root={emodb}")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"].startswith("speaker-independent, 10 folds, leave-one-speaker-out")
    assert metrics["mean"]["uar"]["mean"] > 0.5  # 7 classes: chance is 0.14
    speaker = sorted(emodb.glob("03*.wav"))[:6]  # one speaker's recordings
    result = CliRunner().invoke(cli, ["predict", str(run), *map(str, speaker), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["predictions"]) == 6 and "taken as one speaker's" in result.output


def test_low_level_descriptors_are_sequences_an_mlp_pools(tmp_path):
    ravdess = _corpus("ravdess-sample")
    overrides = ['features={name = "opensmile", level = "lld"}', 'model={name = "mlp"}', "augment=[]"]
    run = _run(tmp_path, "tiny.toml", f"dataset.root={ravdess}", *overrides, "train.max_epochs=2")
    model = json.loads((run / "model.json").read_text())
    frames, descriptors = model["input_shape"]
    assert descriptors == 25 and 140 <= frames <= 150  # 1.5 s clips: a frame per 10 ms, 25 eGeMAPS descriptors
