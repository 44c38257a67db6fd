import numpy as np
import pytest

pytest.importorskip("serkit_specaugment", reason="install it: pip install ./plugins/serkit-specaugment")

from serkit_specaugment import SpecAugment

from serkit import SerkitError
from serkit.plugins import get_registry
from serkit.testing import check_component


def test_contract():
    check_component(SpecAugment())
    check_component(SpecAugment(freq_masks=0, time_masks=3, fill="zero"))


def test_registered_through_its_entry_point():
    entry = get_registry().entries["augmenters"]["spec_augment"]
    assert entry.cls is SpecAugment and entry.provider.distribution == "serkit-specaugment"


def test_masks_whole_bands_and_frames_within_the_widths():
    features = np.arange(1 * 40 * 100, dtype=np.float32).reshape(1, 40, 100) + 1
    out = SpecAugment(freq_masks=1, freq_width=6, time_masks=0, fill="zero")(features, np.random.default_rng(3))
    masked_rows = np.flatnonzero((out[0] == 0).all(axis=1))
    assert 0 < len(masked_rows) <= 6 and np.all(np.diff(masked_rows) == 1)
    assert np.array_equal(np.delete(out[0], masked_rows, axis=0), np.delete(features[0], masked_rows, axis=0))
    out = SpecAugment(freq_masks=0, time_masks=1, time_width=10, fill="zero")(features, np.random.default_rng(5))
    masked_columns = np.flatnonzero((out[0] == 0).all(axis=0))
    assert 0 < len(masked_columns) <= 10


def test_invalid_settings_are_rejected():
    with pytest.raises(SerkitError, match="at least one of freq_masks and time_masks"):
        SpecAugment.from_params({"freq_masks": 0, "time_masks": 0}, "augment[0]")
    with pytest.raises(SerkitError, match=r"augment\[0\].fill"):
        SpecAugment.from_params({"fill": "noise"}, "augment[0]")
