import numpy as np
import pytest
import soundfile

pytest.importorskip("serkit_roomsim", reason="install it: pip install ./plugins/serkit-roomsim")

from serkit_roomsim import RoomSimulator

from serkit import SerkitError
from serkit.plugins import get_registry
from serkit.testing import check_component, speech_like


def test_contract():
    check_component(RoomSimulator())


def test_registered_through_its_entry_point():
    entry = get_registry().entries["augmenters"]["room_sim"]
    assert entry.cls is RoomSimulator and entry.provider.distribution == "serkit-roomsim"


def decay_energy(wave: np.ndarray, rate: int) -> float:
    """Energy in the 0.3 s after the signal stops, relative to the whole."""
    return float(np.sum(wave[-int(0.3 * rate) :] ** 2) / np.sum(wave**2))


def test_reverberation_rings_on_after_the_speech_and_grows_with_rt60():
    rate = 16000
    dry = np.concatenate([speech_like(rate), np.zeros(int(0.4 * rate), np.float32)])
    short = RoomSimulator(rt60_min=0.2, rt60_max=0.2)(dry, rate, np.random.default_rng(0))
    long = RoomSimulator(rt60_min=1.2, rt60_max=1.2)(dry, rate, np.random.default_rng(0))
    assert short.shape == dry.shape
    assert decay_energy(dry, rate) == 0
    assert 0 < decay_energy(short, rate) < decay_energy(long, rate)
    assert np.sqrt(np.mean(long**2)) == pytest.approx(np.sqrt(np.mean(dry**2)), rel=1e-4)


def test_measured_impulse_responses(tmp_path):
    rate = 16000
    impulse = np.zeros(800, np.float32)
    impulse[0] = 1.0
    soundfile.write(tmp_path / "delta.wav", impulse, 8000)
    dry = speech_like(rate)
    wet = RoomSimulator(ir_folder=str(tmp_path))(dry, rate, np.random.default_rng(0))
    assert np.corrcoef(wet, dry)[0, 1] > 0.99  # a delta response leaves the speech as it was


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"room_min": [3.0, 3.0]}, "three sizes"),
        ({"room_min": [12.0, 3.0, 2.4]}, "must not exceed room_max"),
        ({"rt60_min": 1.0, "rt60_max": 0.5}, "rt60_min must not exceed"),
        ({"ir_folder": "/nowhere"}, "holds no .wav"),
        ({"margin": 2.0}, "twice the margin"),
    ],
)
def test_invalid_settings_are_rejected(values, message):
    with pytest.raises(SerkitError, match=message):
        RoomSimulator.from_params(values, "augment[0]")


def test_a_bank_of_rooms_is_simulated_once_and_runs_on_the_device_as_on_the_cpu():
    """With ``bank``, the rooms are simulated once from a generator seeded by the parameters (the same bank in every
    process), a use draws one, and the torch implementation convolves it as the NumPy call does (the contract kit
    compares them)."""
    from serkit_roomsim import rooms

    component = RoomSimulator(bank=4, rt60_min=0.3, rt60_max=0.6)
    first = rooms(component, 16000)
    assert len(first) == 4 and rooms(component, 16000) is first
    assert RoomSimulator(bank=4, rt60_min=0.3, rt60_max=0.6).device() is not None
    assert RoomSimulator().device() is None  # a new room every use: no device path
    check_component(component)
