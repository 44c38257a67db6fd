"""The training path: the feature store, batch-at-a-time training, the allocator setting and the
single-channel convolution gradient give the same results as the plain path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import serkit.builtin.crnn as crnn
from serkit import SerkitError
from serkit.builtin.models import CRNN
from serkit.core.settings import TrainSettings
from serkit.data.normalise import ZScore
from serkit.data.store import FeatureStore
from serkit.learn.hardware import keep_freed_memory
from serkit.learn.trainer import Trainer

SHAPE = (1, 16, 24)


def _features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *SHAPE)).astype(np.float16), rng.integers(0, 3, n)


def test_store_rows_read_back_exactly_and_refuse_other_shapes():
    x, _ = _features(10)
    items = [(i, None) for i in range(8)] + [(0, 0), (1, 0)]
    with FeatureStore(items, [f"file{i}.wav" for i in range(8)]) as store:
        for item, array in zip(items, x, strict=True):
            store.put(item, array)
        rows = store.view([(1, 0), (3, None), (0, None)])
        assert rows.shape == (3, *SHAPE) and len(rows) == 3 and rows.dtype == np.float16
        assert np.array_equal(rows[np.array([0, 2])], x[[9, 0]])
        assert np.array_equal(np.asarray(rows), x[[9, 3, 0]])
        with pytest.raises(SerkitError, match=r"features differ in shape .* for file2\.wav\): add a fix_length"):
            store.put((2, None), np.zeros((1, 16, 23), np.float16))


def test_zscore_fits_the_same_on_store_rows():
    x, _ = _features(300)
    items = [(i, None) for i in range(300)]
    with FeatureStore(items, ["f"] * 300) as store:
        for item, array in zip(items, x, strict=True):
            store.put(item, array)
        a, b = ZScore.fit(x, "band"), ZScore.fit(store.view(items), "band")
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.std, b.std)


def _train(x_fit, y_fit, x_val, y_val, transform=None):
    settings = TrainSettings(max_epochs=2, batch_size=8, learning_rate=1e-3, patience=5, precision="fp32")
    torch.manual_seed(3)
    model = CRNN(filters=[4, 4, 8, 8], lstm_units=8).build(SHAPE, 3)
    trainer = Trainer(settings, torch.device("cpu"), 3)
    result = trainer.fit(model, x_fit, y_fit, x_val, y_val, transform=transform)
    return [row["train_loss"] for row in result.history], trainer.predict_proba(result.model, x_val, transform)


def test_a_band_constant_in_the_fit_part_stays_finite_in_float16_and_a_value_that_does_not_is_named():
    from serkit.core.errors import SerkitError

    fit = np.full((8, 4, 3, 5), 2.0, np.float16)  # band 1 of every item constant: 2.0
    fit[:, [0, 2, 3]] = np.random.default_rng(0).normal(size=(8, 3, 3, 5))
    normaliser = ZScore.fit(fit, "band", source="feature extractor 'log_mel'")
    held_out = fit[:2].copy()
    held_out[:, 1] += np.float16(0.01)  # departs a little: a floor of 1e-8 made it 1e6, inf in float16
    normalised = normaliser(held_out)
    assert normalised.dtype == np.float16 and np.all(np.isfinite(normalised))
    assert np.all(normaliser.std[1] == 1.0) and abs(float(normalised[0, 1, 0, 0]) - 0.01) < 1e-3
    tiny = np.zeros((8, 4, 3, 5), np.float16)
    tiny[::2, 2] = np.float16(2e-5)  # std 1e-5: above the constant threshold, yet 1.0 normalises past float16
    held_out[:, 2] = 1.0
    with pytest.raises(SerkitError, match=r"feature extractor 'log_mel': band \(2, 0, 0\) is not finite .* float16"):
        ZScore.fit(tiny, "band", source="feature extractor 'log_mel'")(held_out)


def test_streaming_from_the_store_trains_exactly_as_in_memory():
    x, y = _features(40)
    normaliser = ZScore.fit(x[:32], "band")
    in_memory = _train(normaliser(x[:32]), y[:32], normaliser(x[32:]), y[32:])  # serkit 0.1: normalised up front
    items = [(i, None) for i in range(40)]
    with FeatureStore(items, ["f"] * 40) as store:
        for item, array in zip(items, x, strict=True):
            store.put(item, array)
        streamed = _train(store.view(items[:32]), y[:32], store.view(items[32:]), y[32:], normaliser)
    assert in_memory[0] == streamed[0]
    assert np.array_equal(in_memory[1], streamed[1])


def test_the_allocator_setting_and_the_fast_gradient_keep_results():
    x, y = _features(24)
    assert keep_freed_memory() is True  # glibc on Linux, where serkit runs its tests
    fast = _train(x[:16], y[:16], x[16:], y[16:])
    crnn.FAST_SINGLE_CHANNEL_GRAD = False
    try:
        plain = _train(x[:16], y[:16], x[16:], y[16:])
    finally:
        crnn.FAST_SINGLE_CHANNEL_GRAD = True
    assert fast[0] == pytest.approx(plain[0], rel=1e-5)
    assert np.allclose(fast[1], plain[1], atol=1e-5)


def test_single_channel_gradient_matches_conv2d():
    torch.manual_seed(0)
    conv = crnn.SingleChannelConv2d(1, 6, 5, padding="same", bias=False)
    x = torch.randn(3, 1, 11, 13)
    conv(x).square().sum().backward()
    fast = conv.weight.grad.clone()
    conv.weight.grad = None
    torch.nn.functional.conv2d(x, conv.weight, padding=2).square().sum().backward()
    assert torch.allclose(fast, conv.weight.grad, rtol=1e-5, atol=1e-5)
    x.requires_grad_(True)  # the input's gradient too, where one is asked for
    crnn._SingleChannelConv.apply(x, conv.weight).sum().backward()
    expected = torch.nn.grad.conv2d_input(x.shape, conv.weight, torch.ones(3, 6, 11, 13), padding=2)
    assert torch.allclose(x.grad, expected, atol=1e-5)


def test_pooling_before_relu_trains_exactly_as_the_papers_order():
    x, y = _features(24)
    x[:, :, :8, :] = 0.0  # constant regions: ties inside pooling windows
    pooled_first = _train(x[:16], y[:16], x[16:], y[16:])
    crnn.POOL_BEFORE_RELU = False
    try:
        papers_order = _train(x[:16], y[:16], x[16:], y[16:])
    finally:
        crnn.POOL_BEFORE_RELU = True
    assert pooled_first[0] == papers_order[0]
    assert np.array_equal(pooled_first[1], papers_order[1])
