import numpy as np
import pytest

opensmile = pytest.importorskip("opensmile", reason="install it: pip install ./plugins/serkit-opensmile")

from serkit_opensmile import OpenSmile

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
