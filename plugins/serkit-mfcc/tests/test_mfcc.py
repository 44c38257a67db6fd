import numpy as np
import pytest

pytest.importorskip("serkit_mfcc", reason="install it: pip install ./plugins/serkit-mfcc")

from serkit_mfcc import MFCC

from serkit import SerkitError
from serkit.plugins import get_registry
from serkit.testing import check_component, speech_like


@pytest.mark.parametrize("deltas", [0, 1, 2])
def test_contract_and_shape(deltas):
    extractor = MFCC(n_mfcc=20, deltas=deltas)
    check_component(extractor)
    assert extractor(speech_like(44100, seconds=3.0), 44100).shape == (1 + deltas, 20, 259)


def test_registered_through_its_entry_point():
    entry = get_registry().entries["feature_extractors"]["mfcc"]
    assert entry.cls is MFCC and entry.provider.distribution == "serkit-mfcc"


def test_deltas_follow_the_coefficients():
    fade_in = speech_like(16000, seconds=2.0) * np.linspace(0.01, 1, 32000, dtype=np.float32)
    features = MFCC(n_mfcc=13, deltas=2)(fade_in, 16000)
    energy, slope = features[0, 0], features[1, 0]
    assert slope[5:-5].mean() > 0 and np.diff(energy[5:-5]).mean() > 0  # c0 rises, and so its delta is positive


def test_more_coefficients_than_bands_is_rejected():
    with pytest.raises(SerkitError, match=r"n_mfcc .* cannot exceed n_mels"):
        MFCC.from_params({"n_mfcc": 64, "n_mels": 40}, "features")
