"""Files are untrusted: a model file that would run code is refused before anything in it is built
(SECURITY.md). The payloads are real: each runs its code when skops is told to trust its types, as
serkit 0.2 did for every type under ``builtins.``."""

from __future__ import annotations

import time

import numpy as np
import pytest
import skops.io
from helpers import RAVDESS, function_node, hostile_skops

from serkit.builtin.classical import SVM, LogisticRegression, RandomForest
from serkit.core.estimator import EstimatorLearner, EstimatorModel


def _payloads(folder) -> dict[str, bytes]:
    marker = str(folder / "ran")
    return {
        "builtins.exec": hostile_skops("builtins", "exec", [f"open({marker!r}, 'w').write('x')"]),
        "builtins.eval": hostile_skops("builtins", "eval", [f"open({marker!r}, 'w').write('x')"]),
        "os.system": hostile_skops("os", "system", [f"touch {marker}"]),
        "subprocess.Popen": hostile_skops("subprocess", "Popen", [["touch", marker]]),
        "functools.partial": hostile_skops(
            "functools", "partial", [function_node("builtins", "exec"), f"open({marker!r}, 'w')"]
        ),
    }


@pytest.mark.parametrize(
    "refused", ["builtins.exec", "builtins.eval", "os.system", "subprocess.Popen", "functools.partial"]
)
def test_a_model_file_that_would_run_code_is_refused(tmp_path, refused):
    data = _payloads(tmp_path)[refused]
    assert refused in skops.io.get_untrusted_types(data=data)
    learner = EstimatorLearner(LogisticRegression(), 3, 0)
    with pytest.raises(ValueError, match=rf"refusing to load .*{refused}.*SECURITY\.md"):
        learner.loads(data)
    time.sleep(0.2)  # a spawned process would have had time to write
    assert not (tmp_path / "ran").exists() and learner.fitted is None


def test_the_payloads_are_real(tmp_path):
    """The same bytes run their code when their types are trusted: the refusal is what stops them."""
    for name, data in _payloads(tmp_path).items():
        skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
        if name != "functools.partial":  # builds exec's partial; nothing calls it
            for _ in range(50):
                if (tmp_path / "ran").exists():
                    break
                time.sleep(0.05)
            assert (tmp_path / "ran").exists(), name
            (tmp_path / "ran").unlink()


@pytest.mark.parametrize("model", [SVM(), LogisticRegression(), RandomForest(n_estimators=5)])
def test_serkits_own_estimators_load_under_the_allow_list(model):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 6)).astype(np.float32), np.arange(40) % 4
    learner = EstimatorLearner(model, 4, 0)
    learner.fitted = model.estimator(0, None).fit(x, y)
    restored = EstimatorLearner(model, 4, 0)
    restored.loads(learner.dumps())
    assert np.allclose(restored.predict_proba(x), learner.predict_proba(x))


def compress(x):
    """A plugin's own function inside its estimator (a FunctionTransformer's)."""
    return np.log1p(x)


def test_a_plugin_model_names_the_types_it_holds():
    """A third-party estimator whose fitted form holds a type outside the allow-list declares it
    exactly; undeclared, its file is refused like any other. The common baselines' internals are
    allowed already (k nearest neighbours on few dimensions holds a KD tree)."""
    from dataclasses import dataclass
    from typing import ClassVar

    from sklearn.preprocessing import FunctionTransformer

    @dataclass(frozen=True, kw_only=True)
    class KNN(EstimatorModel):
        name = "knn"

        def estimator(self, seed, class_weight):
            from sklearn.neighbors import KNeighborsClassifier

            return KNeighborsClassifier(algorithm="kd_tree")

    @dataclass(frozen=True, kw_only=True)
    class Logged(EstimatorModel):
        name = "logged"

        def estimator(self, seed, class_weight):
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline

            return make_pipeline(FunctionTransformer(compress), LogisticRegression())

    @dataclass(frozen=True, kw_only=True)
    class DeclaredLogged(Logged):
        trusted_types: ClassVar[tuple[str, ...]] = (f"{__name__}.compress",)

    rng = np.random.default_rng(0)
    x, y = np.abs(rng.standard_normal((40, 6))).astype(np.float32), np.arange(40) % 2
    knn = EstimatorLearner(KNN(), 2, 0)
    knn.loads(skops.io.dumps(KNN().estimator(0, None).fit(x, y)))
    assert knn.predict_proba(x).shape == (40, 2)
    data = skops.io.dumps(Logged().estimator(0, None).fit(x, y))
    assert skops.io.get_untrusted_types(data=data) == [f"{__name__}.compress"]
    with pytest.raises(ValueError, match=r"refusing to load .*: not a type that model 'logged' holds .*trusted_types"):
        EstimatorLearner(Logged(), 2, 0).loads(data)
    learner = EstimatorLearner(DeclaredLogged(), 2, 0)
    learner.loads(data)
    assert learner.predict_proba(x).shape == (40, 2)


class _RunsCode:
    """Pickles into a call of os.system: what a hostile .pt or .npy file carries."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from click.testing import CliRunner
    from helpers import need, tiny_run_args

    from serkit.cli import cli

    tmp = tmp_path_factory.mktemp("run")
    args = tiny_run_args(need(RAVDESS), tmp, "augment=[]", "train.max_epochs=1", "train.keep_epoch_weights=true")
    assert CliRunner().invoke(cli, args).exit_code == 0
    (run,) = (tmp / "runs").iterdir()
    return run


@pytest.mark.parametrize("target", ["model.pt", "folds/random/checkpoint.pt", "folds/random/epochs/001.pt"])
def test_torch_files_with_a_pickled_payload_are_refused(tiny_run, tmp_path, target):
    """predict reads model.pt, resume reads checkpoint.pt, audit the per-epoch weights: all with
    torch.load(weights_only=True), which refuses a pickled call; each is named."""
    import shutil

    import torch
    from click.testing import CliRunner

    from serkit.cli import cli

    run = shutil.copytree(tiny_run, tmp_path / "shared-run")
    marker = tmp_path / "ran"
    torch.save({"model": _RunsCode(marker)}, run / target)
    if target.endswith("checkpoint.pt"):
        (run / "metrics.json").unlink()  # interrupted: resume reads its checkpoint
        (run / "folds" / "random" / "result.json").unlink()
        command = ["resume", str(run)]
    elif "epochs" in target:
        command = ["audit", str(run)]
    else:
        command = ["predict", str(run), str(sorted(RAVDESS.rglob("*.wav"))[0])]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1 and str(run / target) in " ".join(result.output.split()), result.output
    time.sleep(0.2)
    assert not marker.exists()


def test_a_feature_cache_entry_with_a_pickled_payload_is_a_miss(tmp_path):
    from serkit.data.cache import ArrayCache

    cache = ArrayCache(tmp_path)
    marker = tmp_path / "ran"
    path = cache.path("features", "ab" * 16)
    path.parent.mkdir(parents=True)
    np.save(path, np.array([_RunsCode(marker)], dtype=object), allow_pickle=True)
    assert cache.get("features", "ab" * 16) is None  # read as damaged: recomputed, never unpickled
    assert not marker.exists()
    np.load(path, allow_pickle=True)  # the payload is real
    assert marker.exists() or (time.sleep(0.2) or marker.exists())
