"""Declared, validated component parameters.

A component is a frozen, keyword-only dataclass whose fields are declared with
:func:`param`. The declaration carries the help text and the allowed range, so the
recipe validator, ``serkit plugins`` and the docs all read one source of truth.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serkit.core.errors import SerkitError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def param(
    default: Any = REQUIRED,
    help: str = "",
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | None = None,
    renamed_from: str | tuple[str, ...] = (),
    path: bool = False,
    since: str = "",
) -> Any:
    """Declare one parameter of a component (a dataclass field with metadata).

    ``choices`` and the bounds hold for the value, or for each item of a list parameter.

    ``renamed_from`` lists earlier names of the parameter: a recipe (or a run folder's
    ``recipe.toml``) that uses an old name still loads, the value moving to the new name.

    ``path=True`` declares a ``str`` parameter that names a file or folder: a relative value
    written in a recipe or sweep file is resolved against that file's folder, one given with
    ``--set`` against the working directory; it must exist (an empty value means "none"); and the
    component's cache identity holds the content it names, not its location.

    ``since`` (a serkit version, "0.3") marks a parameter added after its component was first released:
    at its default it is left out of the component's identity, so the cache entries and run folders made
    before it existed keep their keys (its default must be what the component did before).
    """
    old = (renamed_from,) if isinstance(renamed_from, str) else tuple(renamed_from)
    metadata = {"help": help, "ge": ge, "le": le, "gt": gt, "lt": lt, "choices": choices, "renamed_from": old}
    if path:
        metadata["path"] = True
    if since:
        metadata["since"] = since
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, list | dict):
        frozen = copy.deepcopy(default)
        return dataclasses.field(default_factory=lambda: copy.deepcopy(frozen), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ParamSpec:
    """What a component declares about one parameter."""

    name: str
    annotation: Any
    default: Any
    help: str = ""
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None
    renamed_from: tuple[str, ...] = ()
    path: bool = False
    #: The serkit version that added the parameter ("": it came with its component).
    since: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def type_name(self) -> str:
        return "path" if self.path else _type_name(self.annotation)

    @property
    def range_text(self) -> str:
        parts = []
        for op, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)):
            if bound is not None:
                parts.append(f"{op} {bound:g}")
        if self.choices:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type_name,
            "default": None if self.required else self.default,
            "required": self.required,
            "range": self.range_text or None,
            "help": self.help,
        }

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` converted to the declared type, or raise a SerkitError."""
        value = _coerce(value, self.annotation, where)
        self._check_bounds(value, where)
        return value

    def _check_bounds(self, value: Any, where: str) -> None:
        """Choices and bounds hold for the value, or for each item of a list."""
        items = value if isinstance(value, list) else [value]
        for position, item in enumerate(items):
            if self.choices is not None and item not in self.choices:
                allowed = ", ".join(repr(c) for c in self.choices)
                at = f"{where}[{position}]" if isinstance(value, list) else where
                raise SerkitError(f"{at}: {item!r} is not allowed (choose one of {allowed})")
        for item in items:
            if not isinstance(item, (int, float)) or isinstance(item, bool):
                continue
            for ok, text, bound in (
                (self.ge is None or item >= self.ge, ">=", self.ge),
                (self.gt is None or item > self.gt, ">", self.gt),
                (self.le is None or item <= self.le, "<=", self.le),
                (self.lt is None or item < self.lt, "<", self.lt),
            ):
                if not ok:
                    raise SerkitError(f"{where}: {item!r} is out of range (must be {text} {bound:g})")


def supported(annotation: Any) -> bool:
    """Whether recipes (TOML) can hold values of this parameter type."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return all(supported(a) for a in typing.get_args(annotation))
    if origin is list:
        return all(supported(a) for a in typing.get_args(annotation))
    if origin is dict:
        key, value = typing.get_args(annotation) or (str, Any)
        return key is str and supported(value)
    return annotation in (bool, int, float, str, type(None), Any)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is list:
        (inner,) = typing.get_args(annotation) or (Any,)
        return f"list[{_type_name(inner)}]"
    if origin is dict:
        key, value = typing.get_args(annotation) or (Any, Any)
        return f"dict[{_type_name(key)}, {_type_name(value)}]"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _coerce(value, option, where)
            except SerkitError:
                continue
        raise _type_error(value, annotation, where)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise _type_error(value, annotation, where)
        (inner,) = typing.get_args(annotation) or (Any,)
        return [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _type_error(value, annotation, where)
        key_type, value_type = typing.get_args(annotation) or (Any, Any)
        return {_coerce(k, key_type, where): _coerce(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if annotation is Any:
        return value
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _type_error(value, annotation, where)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _type_error(value, annotation, where)
    if annotation is bool or annotation is str:
        if type(value) is annotation:
            return value
        raise _type_error(value, annotation, where)
    if annotation is type(None):
        if value is None:
            return None
        raise _type_error(value, annotation, where)
    raise SerkitError(f"{where}: parameter type {annotation!r} is not supported")


def _type_error(value: Any, annotation: Any, where: str) -> SerkitError:
    got = type(value).__name__
    return SerkitError(f"{where}: expected {_type_name(annotation)}, got {got} {value!r}")


def param_specs(cls: type) -> list[ParamSpec]:
    """The declared parameters of a component class, in declaration order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = REQUIRED
        meta = dict(field.metadata)
        # a subclass that redeclares a path parameter (with its own help) keeps it a path
        meta["path"] = meta.get("path", False) or any(
            base_field.metadata.get("path", False)
            for base in cls.__mro__[1:]
            if (base_field := getattr(base, "__dataclass_fields__", {}).get(field.name)) is not None
        )
        specs.append(ParamSpec(name=field.name, annotation=hints[field.name], default=default, **meta))
    return specs


def validate_params(cls: type, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check ``values`` against the class's declared parameters; fill in the defaults."""
    from serkit.core.suggest import did_you_mean

    specs = {spec.name: spec for spec in param_specs(cls)}
    values = _renamed(specs, values, where)
    for key in values:
        if key not in specs:
            hint = did_you_mean(key, specs)
            known = ", ".join(specs) or "none"
            raise SerkitError(f"{where}.{key}: unknown parameter{hint} (known: {known})")
    resolved = {}
    for name, spec in specs.items():
        if name in values:
            resolved[name] = spec.check(values[name], f"{where}.{name}")
        elif spec.required:
            raise SerkitError(f"{where}.{name}: required parameter is missing ({spec.help})")
        else:
            resolved[name] = spec.default
    return resolved


def _renamed(specs: Mapping[str, ParamSpec], values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``values`` with every parameter given under an earlier name moved to its current name."""
    out = dict(values)
    for spec in specs.values():
        for old in spec.renamed_from:
            if old not in out:
                continue
            if spec.name in out:
                raise SerkitError(f"{where}.{old}: renamed to '{spec.name}'; give only '{spec.name}'")
            out[spec.name] = out.pop(old)
    return out
