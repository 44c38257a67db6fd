"""Declared parameters: types, ranges, choices, required values, suggestions."""

from dataclasses import dataclass

import pytest

from serkit import Augmenter, SerkitError, param
from serkit.core.params import validate_params


@dataclass(frozen=True, kw_only=True)
class Example(Augmenter):
    """An example component."""

    name = "example"
    rate: float = param(1.0, "a rate", gt=0, le=4)
    count: int = param(2, "a count", ge=1)
    mode: str = param("a", "a mode", choices=("a", "b"))
    flag: bool = param(False, "a flag")
    sizes: list[int] = param([1, 2], "sizes", ge=1)
    path: str = param(help="a required path")


def test_defaults_are_filled_in_and_ints_become_floats():
    values = validate_params(Example, {"path": "x", "rate": 2}, "augment[0]")
    assert values == {"rate": 2.0, "count": 2, "mode": "a", "flag": False, "sizes": [1, 2], "path": "x"}
    assert isinstance(values["rate"], float)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"path": "x", "rate": "fast"}, "augment[0].rate: expected float, got str 'fast'"),
        ({"path": "x", "count": 1.5}, "augment[0].count: expected int, got float 1.5"),
        ({"path": "x", "count": True}, "augment[0].count: expected int, got bool True"),
        ({"path": "x", "rate": 0}, "augment[0].rate: 0.0 is out of range (must be > 0)"),
        ({"path": "x", "rate": 5}, "augment[0].rate: 5.0 is out of range (must be <= 4)"),
        ({"path": "x", "mode": "c"}, "augment[0].mode: 'c' is not allowed (choose one of 'a', 'b')"),
        ({"path": "x", "sizes": [1, 0]}, "augment[0].sizes: 0 is out of range (must be >= 1)"),
        ({"path": "x", "sizes": 3}, "augment[0].sizes: expected list[int], got int 3"),
        ({}, "augment[0].path: required parameter is missing (a required path)"),
        ({"path": "x", "rait": 2.0}, "augment[0].rait: unknown parameter; did you mean 'rate'?"),
    ],
)
def test_bad_values_name_the_key(values, message):
    with pytest.raises(SerkitError) as error:
        Example.from_params(values, "augment[0]")
    assert message in str(error.value)


def test_declared_parameters_describe_themselves():
    specs = {spec.name: spec for spec in Example.params()}
    assert specs["rate"].type_name == "float"
    assert specs["rate"].range_text == "> 0, <= 4"
    assert specs["sizes"].type_name == "list[int]"
    assert specs["path"].required
    assert Example.description() == "An example component."


def test_suggestions_prefer_the_same_words_in_another_order():
    from serkit.core.suggest import did_you_mean

    assert did_you_mean("snr_max_db", ["min_snr_db", "max_snr_db"]) == "; did you mean 'max_snr_db'?"
    assert did_you_mean("time_strech", ["time_stretch", "pitch_shift"]) == "; did you mean 'time_stretch'?"


@dataclass(frozen=True, kw_only=True)
class Listed(Augmenter):
    """A list parameter with choices."""

    name = "listed"
    kinds: list[str] = param([], "kinds", choices=("a", "b"))


def test_each_item_of_a_list_is_checked_against_the_choices():
    assert validate_params(Listed, {}, "augment[0]") == {"kinds": []}
    assert validate_params(Listed, {"kinds": ["a"]}, "augment[0]") == {"kinds": ["a"]}
    assert validate_params(Listed, {"kinds": ["b", "a"]}, "augment[0]") == {"kinds": ["b", "a"]}
    with pytest.raises(SerkitError, match=r"augment\[0\]\.kinds\[1\]: 'c' is not allowed \(choose one of 'a', 'b'\)"):
        validate_params(Listed, {"kinds": ["a", "c"]}, "augment[0]")
