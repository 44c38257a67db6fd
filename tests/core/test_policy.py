"""Augmentation policies: chances, ranges drawn per use, groups with weights, their recipe checks and words."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from helpers import ROOT

from serkit.core.components import Augmenter
from serkit.core.errors import SerkitError
from serkit.core.params import param
from serkit.core.policy import Chance, Group, leaves, policy_words
from serkit.core.recipe import build_recipe, load_recipe
from serkit.core.registry import get_registry

TINY = ROOT / "recipes" / "tiny.toml"


@dataclass(frozen=True, kw_only=True)
class Tag(Augmenter):
    """Adds its ``value`` to every sample: which members acted, and with what, is read off the output."""

    name = "tag"
    value: float = param(1.0, "added to every sample")

    def __call__(self, wave, sample_rate, rng):
        return wave + np.float32(self.value)


def recipe_with(*entries: dict, mode: str = "copies"):
    raw = load_recipe(TINY).to_dict()
    raw["augment"] = list(entries)
    raw["augmentation"] = {"mode": mode}
    return build_recipe(raw, get_registry())


def entry(table: dict):
    (built,) = recipe_with(table).augment
    return built


def test_a_plain_entry_is_the_augmenter_itself_so_its_cache_identity_is_unchanged():
    built = entry({"name": "time_stretch", "rate": 0.8})
    assert type(built).__name__ == "TimeStretchAugmenter"
    assert built.to_entry() == {"name": "time_stretch", "rate": 0.8, "method": "librosa"}


def test_chance_and_ranges_are_drawn_per_use_within_bounds():
    built = entry({"name": "time_stretch", "rate": [0.8, 1.25], "p": 0.25})
    assert isinstance(built, Chance) and built.p == 0.25
    rates = [built.drawn(np.random.default_rng(s)).rate for s in range(200)]
    assert 0.8 <= min(rates) < 0.85 and 1.2 < max(rates) <= 1.25
    tag, wave = Chance(augmenter=Tag(), p=0.25), np.zeros(4, np.float32)
    acted = sum(tag(wave, 16000, np.random.default_rng(s)) is not wave for s in range(400))
    assert 70 <= acted <= 130  # p = 0.25 of 400
    assert built.words() == "time_stretch (rate from [0.8, 1.25]) with p = 0.25"


def test_both_ends_of_a_range_are_validated_and_a_range_must_be_two_ordered_numbers():
    with pytest.raises(SerkitError, match=r"augment\[0\]\.rate: 20.0 is out of range"):
        entry({"name": "time_stretch", "rate": [0.8, 20.0]})
    with pytest.raises(SerkitError, match=r"augment\[0\]\.rate: range \[1.2, 0.8\] has low > high"):
        entry({"name": "time_stretch", "rate": [1.2, 0.8]})
    with pytest.raises(SerkitError, match=r"augment\[0\]\.rate: a range is \[low, high\]"):
        entry({"name": "time_stretch", "rate": [0.8, 1.0, 1.2]})
    with pytest.raises(SerkitError, match=r"augment\[0\]\.p: 1.5 is out of range"):
        entry({"name": "time_stretch", "p": 1.5})


def test_one_of_picks_by_weight_and_some_of_picks_k_in_listed_order():
    tags = [Tag(value=1.0), Tag(value=10.0), Tag(value=100.0)]
    wave = np.zeros(4, np.float32)
    one = Group(how="one_of", members=(Chance(augmenter=tags[0], weight=3.0), tags[1]))
    values = [float(one(wave, 16000, np.random.default_rng(s))[0]) for s in range(800)]
    assert set(values) == {1.0, 10.0} and 0.7 < values.count(1.0) / 800 < 0.8  # weights 3:1
    some = Group(how="some_of", members=tuple(tags), k=(1, 2))
    sums = {float(some(wave, 16000, np.random.default_rng(s))[0]) for s in range(200)}
    assert sums == {1.0, 10.0, 100.0, 11.0, 101.0, 110.0}  # one or two of them, never all three
    both = Group(how="compose", members=tuple(tags), p=0.5)
    outs = {float(both(wave, 16000, np.random.default_rng(s))[0]) for s in range(50)}
    assert outs == {0.0, 111.0}
    assert np.array_equal(some(wave, 16000, np.random.default_rng(7)), some(wave, 16000, np.random.default_rng(7)))


def test_groups_from_a_recipe_nest_and_round_trip_through_recipe_toml(tmp_path):
    recipe = recipe_with(
        {"name": "gaussian_noise", "p": 0.5},
        {
            "p": 0.8,
            "one_of": [
                {"name": "time_stretch", "rate": [0.8, 1.25], "method": "signalsmith"},
                {"some_of": [{"name": "pitch_shift"}, {"name": "gaussian_noise"}], "k": [1, 2], "weight": 2.0},
            ],
        },
        mode="online",
    )
    group = recipe.augment[1]
    assert isinstance(group, Group) and isinstance(group.members[1], Group) and group.members[1].weight == 2.0
    assert [a.name for a in leaves(recipe.augment)] == [
        "gaussian_noise",
        "time_stretch",
        "pitch_shift",
        "gaussian_noise",
    ]
    (tmp_path / "recipe.toml").write_text(recipe.to_toml())
    again = load_recipe(tmp_path / "recipe.toml")
    assert again.augment == recipe.augment and again.augmentation.mode == "online"
    assert policy_words(recipe.augment, "online") == (
        "each fit utterance each epoch, drawn anew: gaussian_noise with p = 0.5, then one of (time_stretch (rate "
        "from [0.8, 1.25]), 1 to 2 of (pitch_shift, gaussian_noise)) with p = 0.8"
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"one_of": []}, r"augment\[0\]\.one_of: expected a non-empty list"),
        ({"one_of": [{"name": "pitch_shift"}], "k": 2}, r"augment\[0\]\.k: only some_of picks k members"),
        ({"some_of": [{"name": "pitch_shift"}], "k": [1, 3]}, r"k1 <= k2 <= 1 \(the members\)"),
        ({"one_of": [{"name": "pitch_shift"}], "name": "x"}, r"give one of name, compose, one_of, some_of"),
        ({"name": "pitch_shift", "weight": 2.0}, r"augment\[0\]\.weight: only members of one_of and some_of"),
        ({"one_of": [{"name": "pitch_shift"}], "chance": 1}, r"augment\[0\]\.chance: unknown key of a group"),
        ({"one_of": [{"name": "pitch_shif"}]}, r"augment\[0\]\.one_of\[0\]\.name: .*pitch_shift"),
        ({"one_of": [{"name": "pitch_shift", "semitone": 2}]}, r"augment\[0\]\.one_of\[0\]\.semitone: unknown"),
    ],
)
def test_a_wrong_policy_is_one_line_naming_its_key(table, message):
    with pytest.raises(SerkitError, match=message):
        entry(table)


def test_online_mode_refuses_what_it_cannot_do_in_one_line():
    raw = load_recipe(TINY).to_dict()
    raw["augmentation"] = {"mode": "online"}
    raw["normalise"] = {"method": "zscore", "scope": "speaker"}
    with pytest.raises(SerkitError, match=r"augmentation.mode: 'online' per-speaker normalisation"):
        build_recipe(raw, get_registry())
    raw["normalise"] = {"method": "zscore", "scope": "band"}
    raw["features"], raw["model"] = {"name": "five_spectral"}, {"name": "svm"}
    with pytest.raises(SerkitError, match=r"augmentation.mode: 'online' model 'svm' is fitted once"):
        build_recipe(raw, get_registry())
