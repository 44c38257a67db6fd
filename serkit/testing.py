"""Contract checks for serkit components, for any plugin's own tests.

    from serkit.testing import check_component

    def test_my_augmenter_keeps_the_contract():
        check_component(PeakClip(level=0.3))

``check_component`` dispatches on the component's kind and checks what every part of serkit
relies on: output type, shape and dtype, finite values, sample-rate handling, determinism under
a seed (and no use of the global random state, which would make results depend on the number
of worker processes), no mutation of the input, picklability (for worker processes), and
declared, validated parameters. Each failed check raises an ``AssertionError`` saying which.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from serkit.core.components import (
    SHAPE_NDIM,
    SHAPES,
    STORAGE_DTYPES,
    Augmenter,
    Component,
    Dataset,
    FeatureExtractor,
    Model,
    Preprocessor,
    Protocol,
    Utterance,
)
from serkit.core.errors import SerkitError
from serkit.core.kinds import kind_of
from serkit.core.params import ParamSpec

SAMPLE_RATES = (16000, 44100)


def speech_like(sample_rate: int = 16000, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A deterministic voiced signal with a moving pitch, vowel-like resonances and syllable rhythm."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    pitch = 140 + 40 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    source = np.sum([np.sin(k * phase) / k for k in range(1, 20)], axis=0)
    voiced = source.copy()
    for formant, width in ((700, 130), (1200, 100), (2600, 160)):
        r = np.exp(-np.pi * width / sample_rate)
        theta = 2 * np.pi * formant / sample_rate
        voiced += lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], source)
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    wave = voiced * envelope + 0.01 * rng.standard_normal(t.size)
    return (0.3 * wave / np.max(np.abs(wave))).astype(np.float32)


def check_component(component: Component) -> None:
    """Run every contract check that applies to the component's kind.

    Every kind gets the checks of declared parameters and picklability; the kinds below also get
    the checks of their own method (a kind without an entry gets only the common checks).
    """
    check_declared_as_dataclass(component)
    check_parameters(component)
    check_picklable(component)
    check = KIND_CHECKS.get(kind_of(component).key)
    if check is not None:
        check(component)


def check_declared_as_dataclass(component: Component) -> None:
    """``param()`` declares dataclass fields: a class that uses it without ``@dataclass`` has no parameters."""
    for cls in type(component).__mro__:
        loose = [name for name, value in vars(cls).items() if isinstance(value, dataclasses.Field)]
        if loose and "__dataclass_fields__" not in vars(cls):
            raise AssertionError(
                f"{cls.__name__} declares {', '.join(loose)} with param() but is not decorated with "
                "@dataclass(frozen=True, kw_only=True)"
            )


def check_parameters(component: Component) -> None:
    """Parameters are declared with help text, round-trip through validation, and reject bad values."""
    cls = type(component)
    assert cls.name, f"{cls.__name__} has no name"
    assert cls.description(), f"{cls.__name__} has no docstring (its first line is the description)"
    specs = cls.params()
    for spec in specs:
        assert spec.help, f"{cls.name}.{spec.name} has no help text"
        if spec.required:
            continue
        where = f"{cls.name}.{spec.name}: its default"
        try:
            checked = spec.check(spec.default, where)
        except SerkitError as exc:
            raise AssertionError(str(exc)) from None
        assert checked == spec.default, f"{where} {spec.default!r} is not of its declared type"
    again = cls.from_params(component.to_params(), "contract")
    assert again == component, f"{cls.name}: from_params(to_params()) gives {again!r}, not {component!r}"
    for spec in specs:
        if spec.path and isinstance(component, Dataset):
            continue  # a dataset's root is checked by its scan, which check_dataset tries with a missing one
        for value in _invalid_values(spec):
            try:
                cls.from_params({**component.to_params(), spec.name: value}, "contract")
            except SerkitError:
                continue
            raise AssertionError(f"{cls.name}.{spec.name} accepted the invalid value {value!r}")


def _invalid_values(spec: ParamSpec) -> list[object]:
    """Values the declaration must reject: a wrong type, a value outside each declared bound."""
    values: list[object] = ["not-a-valid-value"] if spec.type_name != "str" else []
    if spec.choices:
        values.append("not-one-of-the-choices")
    if spec.type_name in ("int", "float"):
        step = 1 if spec.type_name == "int" else 1e-3
        for bound, outside in ((spec.ge, -step), (spec.gt, 0), (spec.le, step), (spec.lt, 0)):
            if bound is not None:
                value = bound + outside
                values.append(int(value) if spec.type_name == "int" else float(value))
    return values


def check_picklable(component: Component) -> None:
    """Worker processes receive components by pickling them."""
    assert pickle.loads(pickle.dumps(component)) == component, f"{component.name} does not survive pickling"


@dataclass
class _GlobalRandom:
    python: object
    numpy: Any

    @classmethod
    def now(cls) -> _GlobalRandom:
        return cls(random.getstate(), np.random.get_state())

    def same_as(self, other: _GlobalRandom) -> bool:
        return self.python == other.python and all(
            np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
            for a, b in zip(self.numpy, other.numpy, strict=True)
        )


def _assert_wave(wave: object, who: str) -> None:
    assert isinstance(wave, np.ndarray), f"{who} returned {type(wave).__name__}, not a numpy array"
    assert wave.ndim == 1 and wave.size > 0, f"{who} returned shape {wave.shape}, expected a non-empty 1-D wave"
    assert wave.dtype == np.float32, f"{who} returned dtype {wave.dtype}, expected float32"
    assert np.all(np.isfinite(wave)), f"{who} returned non-finite samples"


def check_preprocessor(component: Preprocessor) -> None:
    for rate in SAMPLE_RATES:
        wave = speech_like(rate)
        original = wave.copy()
        result = component(wave, rate)
        who = f"preprocessor '{component.name}' at {rate} Hz"
        assert isinstance(result, tuple) and len(result) == 2, f"{who} must return (wave, sample_rate)"
        out, out_rate = result
        _assert_wave(out, who)
        assert isinstance(out_rate, int | np.integer) and out_rate > 0, f"{who} returned sample rate {out_rate!r}"
        assert np.array_equal(wave, original), f"{who} changed its input in place"
        again, _ = component(wave.copy(), rate)
        assert np.array_equal(out, again), f"{who} is not deterministic"
    for size in (4000, 16):  # silence, and a clip of 1 ms
        silent = component(np.zeros(size, np.float32), 16000)[0]
        _assert_wave(silent, f"preprocessor '{component.name}' on {size} samples of silence")


def check_augmenter(component: Augmenter) -> None:
    if component.stage == "features":
        from serkit.builtin.features import LogMel

        inputs: list[tuple[np.ndarray, int | None]] = [
            (LogMel(n_fft=512, hop_length=160, n_mels=40)(speech_like(16000), 16000), None)
        ]
    else:
        inputs = [(speech_like(rate), rate) for rate in SAMPLE_RATES]
    for data, rate in inputs:
        who = f"augmenter '{component.name}'" + (f" at {rate} Hz" if rate else " on features")
        original = data.copy()

        def call(seed: int, data: np.ndarray = data, rate: int | None = rate) -> Any:
            rng = np.random.default_rng(seed)
            augment: Any = component  # a FeatureAugmenter takes (features, rng)
            return augment(data, rng) if rate is None else augment(data, rate, rng)

        before = _GlobalRandom.now()
        first = call(1)
        assert before.same_as(_GlobalRandom.now()), (
            f"{who} changed the global random state: draw from the rng argument (or restore the state), so that "
            "results do not depend on worker processes"
        )
        if rate is None:
            assert isinstance(first, np.ndarray) and first.shape == data.shape, (
                f"{who} returned {getattr(first, 'shape', type(first).__name__)}, expected shape {data.shape}"
            )
            assert np.all(np.isfinite(first)), f"{who} returned non-finite values"
        else:
            _assert_wave(first, who)
        assert np.array_equal(data, original), f"{who} changed its input in place"
        call(2)  # another draw in between: online augmentation calls it with a new rng every epoch
        assert np.array_equal(first, call(1)), (
            f"{who} gives different output for the same seed after a call with another: its output must depend on "
            "its rng alone (online augmentation draws it anew every epoch, in any order)"
        )
    if component.stage != "features":
        for size in (16000, 16):  # silence, and a clip of 1 ms: no NaN from a division by its level
            out = component(np.zeros(size, np.float32), 16000, np.random.default_rng(0))
            _assert_wave(out, f"augmenter '{component.name}' on {size} samples of silence")
    check_device_augmenter(component)


def check_device_augmenter(component: Augmenter) -> None:
    """An augmenter's torch implementation (where it offers one: :meth:`Augmenter.device`) draws what its NumPy
    call draws, consuming the generator alike; on a batch it gives the NumPy call's output (within its
    ``tolerance``, default 1e-4, of the peak) where ``exact`` (the default), else output whose change from the
    input has the NumPy call's spread
    (within 15 %); and it keeps no state: the same draws give the same batch twice."""
    device = component.device()
    if device is None:
        return
    import torch

    from serkit.builtin.features import LogMel

    who = f"augmenter '{component.name}' on the device"
    for rate in SAMPLE_RATES if component.stage != "features" else (16000,):
        inputs = [speech_like(rate, seed=k) for k in range(4)]
        if component.stage == "features":
            inputs = [LogMel(n_fft=512, hop_length=160, n_mels=40)(wave, rate) for wave in inputs]
        numpy_rngs, device_rngs = (
            [np.random.default_rng(k) for k in range(4)],
            [np.random.default_rng(k) for k in range(4)],
        )
        call: Any = component
        expected = [
            call(x, numpy_rngs[k]) if component.stage == "features" else call(x, rate, numpy_rngs[k])
            for k, x in enumerate(inputs)
        ]
        draws = [device.draw(device_rngs[k], rate, x.shape) for k, x in enumerate(inputs)]
        for k in range(4):
            assert numpy_rngs[k].bit_generator.state == device_rngs[k].bit_generator.state, (
                f"{who}: draw() consumes the generator otherwise than the NumPy call, so a policy's later draws differ"
            )
        batch = torch.from_numpy(np.stack(inputs))
        got = device.apply(batch.clone(), rate, draws).numpy()
        assert got.shape == batch.shape, f"{who} returned shape {got.shape} for a batch of {tuple(batch.shape)}"
        assert np.array_equal(got, device.apply(batch.clone(), rate, draws).numpy()), (
            f"{who}: the same draws gave another batch"
        )
        overlap = min(min(len(e.reshape(-1)) for e in expected), got[0].size)
        want = np.stack([e.reshape(-1)[:overlap] for e in expected])
        have = got.reshape(4, -1)[:, :overlap]
        if getattr(device, "exact", True):
            tolerance = getattr(device, "tolerance", 1e-4) * max(1.0, float(np.abs(want).max()))
            assert np.abs(want - have).max() <= tolerance, (
                f"{who} differs from the NumPy call by {np.abs(want - have).max():.3g} given the same draws"
            )
        else:
            before = np.stack(inputs).reshape(4, -1)[:, :overlap]
            ratio = float(np.std(have - before) / max(np.std(want - before), 1e-12))
            assert 0.85 < ratio < 1.15, f"{who} changes its input by a spread {ratio:.2f} times the NumPy call's"


def check_feature_extractor(component: FeatureExtractor) -> None:
    for rate in SAMPLE_RATES:
        wave = speech_like(rate)
        original = wave.copy()
        who = f"feature extractor '{component.name}' at {rate} Hz"
        features = component(wave, rate)
        shape, storage = component.output_shape(), component.storage_dtype()
        assert shape in SHAPES, f"{who} declares shape '{shape}', not one of {list(SHAPES)}"
        assert storage in STORAGE_DTYPES, f"{who} declares storage '{storage}', not one of {list(STORAGE_DTYPES)}"
        assert isinstance(features, np.ndarray), f"{who} returned {type(features).__name__}, not a numpy array"
        assert features.ndim in SHAPE_NDIM[shape], (
            f"{who} returned shape {features.shape}, expected {shape} features {SHAPES[shape]}"
        )
        assert features.dtype == np.float32, f"{who} returned dtype {features.dtype}, expected float32"
        assert np.all(np.isfinite(features)), f"{who} returned non-finite values"
        assert np.all(np.isfinite(features.astype(storage))), f"{who}: values overflow its storage dtype {storage}"
        assert np.array_equal(wave, original), f"{who} changed its input in place"
        assert np.array_equal(features, component(wave, rate)), f"{who} is not deterministic"
        other = component(speech_like(rate, seed=1), rate)
        assert other.shape == features.shape, f"{who}: equal-length inputs gave shapes {features.shape}, {other.shape}"
    shortest = max(16, int(np.ceil(component.min_seconds() * 16000)))
    for size in (16000, shortest):  # silence, and the shortest clip it declares it accepts
        silent = component(np.zeros(size, np.float32), 16000)
        who = f"feature extractor '{component.name}' on {size} samples of silence"
        assert np.all(np.isfinite(silent)), f"{who} gives non-finite output (declare min_seconds() if it needs more)"


#: An input of each feature shape that models are checked on.
EXAMPLE_INPUTS: dict[str, list[tuple[int, ...]]] = {
    "image": [(1, 40, 101)],
    "sequence": [(50, 12), (3, 50, 12)],
    "vector": [(24,), (6,)],  # few dimensions too: k nearest neighbours then saves a KD tree
    "waveform": [(16000,)],  # one second at 16 kHz
}


def check_model(component: Model, input_shape: tuple[int, ...] | None = None, n_classes: int = 5) -> None:
    """A torch model's module, or any other model's learner, on an input of each shape it accepts."""
    accepted = component.accepted_shapes()
    assert accepted and set(accepted) <= set(SHAPES), f"model '{component.name}' accepts {accepted}, not shapes"
    shapes = [input_shape] if input_shape else [example for shape in accepted for example in EXAMPLE_INPUTS[shape]]
    for shape in shapes:
        learner = component.learner(shape, n_classes, 0)
        if learner is None:
            _check_torch_model(component, shape, n_classes)
        else:
            _check_learner(component, shape, n_classes)


def _check_learner(component: Model, input_shape: tuple[int, ...], n_classes: int) -> None:
    """Fit on separable data, predict probabilities, save and restore, follow the seed."""
    from serkit.core.learner import FitContext, Learner
    from serkit.core.settings import TrainSettings

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(n_classes), 12)
    x = rng.standard_normal((len(y), *input_shape)).astype(np.float32)
    x += 2.0 * y.reshape(-1, *[1] * len(input_shape))
    who = f"model '{component.name}' on input {input_shape}"
    learners = []
    for _ in range(2):
        learner = component.learner(input_shape, n_classes, 7)
        assert isinstance(learner, Learner), f"{who}: learner() returned {type(learner).__name__}, not a Learner"
        outcome = learner.fit(x, y, x, y, FitContext(TrainSettings(max_epochs=3), seed=7))
        assert outcome.history, f"{who}: fit reported no epochs"
        learners.append(learner)
    probabilities = learners[0].predict_proba(x)
    assert probabilities.shape == (len(y), n_classes), f"{who}: probabilities of shape {probabilities.shape}"
    assert np.allclose(probabilities.sum(1), 1, atol=1e-4), f"{who}: probabilities do not sum to 1"
    assert (probabilities.argmax(1) == y).mean() > 0.9, f"{who} does not fit separable training data"
    assert np.array_equal(probabilities, learners[1].predict_proba(x)), f"{who}: results do not follow the seed"
    restored = component.learner(input_shape, n_classes, 7)
    assert restored is not None
    restored.loads(learners[0].dumps())
    assert np.allclose(restored.predict_proba(x), probabilities), f"{who}: restored model predicts differently"


def _check_torch_model(component: Model, input_shape: tuple[int, ...], n_classes: int) -> None:
    import torch

    torch.manual_seed(0)
    module = component.build(input_shape, n_classes)
    torch.manual_seed(0)
    twin = component.build(input_shape, n_classes)
    who = f"model '{component.name}'"
    assert isinstance(module, torch.nn.Module), f"{who}.build returned {type(module).__name__}, not a torch module"
    assert all(
        torch.equal(a, b) for a, b in zip(module.state_dict().values(), twin.state_dict().values(), strict=True)
    ), f"{who}: initial weights do not follow the seed"
    x = torch.randn(3, *input_shape)
    logits = module(x)
    assert tuple(logits.shape) == (3, n_classes), (
        f"{who} returned shape {tuple(logits.shape)}, expected (3, {n_classes})"
    )
    assert torch.all(torch.isfinite(logits)), f"{who} returned non-finite logits"
    logits.sum().backward()
    assert any(p.grad is not None for p in module.parameters()), f"{who}: no parameter receives a gradient"
    copy.deepcopy(module)  # trainers copy the best weights
    for precision in PRECISIONS:
        check_trains(component, input_shape, n_classes, precision)


#: The training precisions a torch model must train in on the CPU: fp32, and bf16 autocast (what
#: ``train.precision = "auto"`` picks on CPUs with native bf16; it runs, slower, on any CPU).
PRECISIONS = ("fp32", "bf16")


def check_trains(component: Model, input_shape: tuple[int, ...], n_classes: int, precision: str) -> list[float]:
    """Two epochs of serkit's trainer on the CPU in ``precision``: finite losses, float32 weights and
    probabilities. Returns the training losses."""
    import torch

    from serkit.core.settings import TrainSettings
    from serkit.learn.trainer import Trainer

    who = f"model '{component.name}' on input {input_shape} in {precision}"
    rng = np.random.default_rng(0)
    y = np.arange(8) % n_classes
    x = rng.standard_normal((len(y), *input_shape)).astype(np.float16)  # stored as serkit stores features
    settings = TrainSettings(max_epochs=2, batch_size=4, learning_rate=1e-3, patience=2, precision=precision)
    torch.manual_seed(0)
    module = component.build(input_shape, n_classes)
    trainer = Trainer(settings, torch.device("cpu"), 0)
    try:
        result = trainer.fit(module, x, y, x, y, n_classes=n_classes)
    except Exception as exc:
        raise AssertionError(f"{who}: training failed: {type(exc).__name__}: {exc}") from exc
    losses = [row["train_loss"] for row in result.history]
    assert len(losses) == 2 and all(np.isfinite(losses)), f"{who}: training losses {losses}"
    dtypes = {p.dtype for p in result.model.parameters()}
    assert dtypes == {torch.float32}, f"{who}: training left parameters in {dtypes}, not float32"
    probabilities = trainer.predict_proba(result.model, x)
    assert probabilities.dtype == np.float32 and np.all(np.isfinite(probabilities)), f"{who}: probabilities"
    assert np.allclose(probabilities.sum(1), 1, atol=1e-4), f"{who}: probabilities do not sum to 1"
    return losses


def check_protocol(component: Protocol) -> None:
    utterances = [
        Utterance(f"/corpus/{s}/{label}{i}.wav", label, s)
        for s in "ABCDEF"
        for label in ("x", "y", "z")
        for i in range(4)
    ]
    folds = component.split(utterances, seed=0)
    who = f"protocol '{component.name}'"
    assert folds, f"{who} returned no folds"
    for fold in folds:
        assert set(fold.train) and set(fold.test), f"{who}: fold '{fold.name}' has an empty side"
        assert not set(fold.train) & set(fold.test), f"{who}: fold '{fold.name}' shares utterances"
        assert max(fold.train + fold.test) < len(utterances) and min(fold.train + fold.test) >= 0
        if component.speaker_independent:
            train = {utterances[i].speaker for i in fold.train}
            assert not train & {utterances[i].speaker for i in fold.test}, f"{who}: fold '{fold.name}' shares speakers"
    assert component.split(utterances, seed=0) == folds, f"{who} is not deterministic for a seed"
    assert component.describe(utterances), f"{who} describes itself with an empty string"


def check_dataset(component: Dataset) -> None:
    """Scan the dataset's root: it finds utterances, and :meth:`Scan.problems` finds none (every file exists,
    every label is in the class list, every utterance has a speaker, no class is repeated); a root that does not
    exist is a SerkitError naming it."""
    import os

    scan = component.scan()
    who = f"dataset '{component.name}'"
    assert scan.utterances, f"{who} found no utterances"
    assert scan.labels, f"{who} returned an empty class list"
    problems = scan.problems()
    assert not problems, f"{who}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    missing = dataclasses.replace(component, root=os.path.join(os.path.abspath(component.location()), "no-such-folder"))
    try:
        missing.scan()
    except SerkitError as exc:
        assert "no-such-folder" in str(exc) or "root" in str(exc), f"{who}: a missing root gives '{exc}', not naming it"
    else:
        raise AssertionError(f"{who}: scanning a root that does not exist raised no SerkitError naming dataset.root")


#: The checks of each kind's own method, by the kind's key in :data:`serkit.core.kinds.KINDS`.
KIND_CHECKS: dict[str, Callable[[Any], None]] = {
    "preprocessors": check_preprocessor,
    "augmenters": check_augmenter,
    "feature_extractors": check_feature_extractor,
    "models": check_model,
    "protocols": check_protocol,
    "datasets": check_dataset,
}
