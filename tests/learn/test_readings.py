"""The paper's loose phrases as parameters: the noise's scale, the CRNN's read-out of its BiLSTM, and
parameters added later leaving the identities (cache keys, ablation keys) of runs that do not use them."""

from __future__ import annotations

import numpy as np
import torch
from helpers import ROOT

from serkit.builtin.augmenters import GaussianNoise
from serkit.builtin.crnn import CRNNModule
from serkit.builtin.models import CRNN
from serkit.core.registry import get_registry
from serkit.studies.ablate import load_sweep


def test_noise_of_full_scale_is_as_loud_on_a_quiet_clip_as_on_a_loud_one():
    quiet = (0.01 * np.sin(np.linspace(0, 200, 16000))).astype(np.float32)
    loud = quiet * 50

    def noise(wave: np.ndarray, relative_to: str) -> float:
        augmenter = GaussianNoise(min_amplitude=0.01, max_amplitude=0.01, relative_to=relative_to)
        return float(np.std(augmenter(wave, 16000, np.random.default_rng(3)) - wave))

    assert abs(noise(quiet, "full_scale") - 0.01) < 0.001 and abs(noise(loud, "full_scale") - 0.01) < 0.001
    assert noise(quiet, "peak") < 0.0002 < 0.004 < noise(loud, "peak")  # a fraction of each clip's own peak


def test_the_crnn_reads_its_lstm_at_the_last_step_or_at_its_final_states():
    torch.manual_seed(0)
    final = CRNNModule((1, 16, 40), 4, [3, 3], [4, 8], [2, 2], 6, 0.0).eval()
    last = CRNNModule((1, 16, 40), 4, [3, 3], [4, 8], [2, 2], 6, 0.0, last_step=True).eval()
    last.load_state_dict(final.state_dict())  # the same weights: only the read-out differs
    x = torch.randn(3, 1, 16, 40)
    with torch.no_grad():
        maps = final.features(x)
        sequence = maps.permute(0, 3, 1, 2).reshape(3, maps.shape[3], -1)
        outputs, (hidden, _) = final.lstm(sequence)
        assert torch.allclose(final(x), final.classifier(torch.cat([hidden[-2], hidden[-1]], 1)), atol=1e-6)
        assert torch.allclose(last(x), final.classifier(outputs[:, -1]), atol=1e-6)
        assert not torch.allclose(final(x), last(x), atol=1e-3)  # the backward direction differs
    assert CRNN(readout="last_step").build((1, 16, 40), 4).last_step


def test_a_parameter_added_later_stays_out_of_the_identity_at_its_default():
    assert "relative_to" not in GaussianNoise().identity()["params"]
    assert GaussianNoise(relative_to="full_scale").identity()["params"]["relative_to"] == "full_scale"
    assert "readout" not in CRNN().identity()["params"] and "readout" in CRNN(readout="last_step").identity()["params"]


def test_the_shipped_readings_ablation_changes_one_reading_per_variant(tmp_path):
    sweep = load_sweep(ROOT / "recipes" / "ablation-readings.toml", [f"dataset.root={tmp_path}"], get_registry())
    base, *variants, combined = [v.recipe for v in sweep.variants]
    readings = [
        lambda r: r.preprocess[1].top_db == 30,
        lambda r: r.augment[0].relative_to == "full_scale" and r.augment[0].max_amplitude == 0.015,
        lambda r: r.normalise.scope == "global",
        lambda r: {a.method for a in r.augment[1:]} == {"signalsmith"},
        lambda r: r.model.readout == "last_step",
    ]
    assert not any(reading(base) for reading in readings)
    for k, recipe in enumerate(variants):
        assert [reading(recipe) for reading in readings] == [j == k for j in range(5)]
    assert all(reading(combined) for reading in readings)
