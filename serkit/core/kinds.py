"""The table of component kinds.

Every part of serkit that handles components by kind reads this table: the registry (one
hook per row), recipe parsing (the section and whether it holds one table or a list), the
hook reference, the contract checks, the skeleton generator and the CLI's choices. Adding a
kind is one row here, one hookspec in :mod:`serkit.core.hookspecs` and one base class in
:mod:`serkit.core.components` (CONTRIBUTING.md shows it); using it in a run needs its own code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from serkit.core.components import (
    Augmenter,
    Component,
    Dataset,
    FeatureAugmenter,
    FeatureExtractor,
    Model,
    Preprocessor,
    Protocol,
)
from serkit.core.estimator import EstimatorModel


@dataclass(frozen=True)
class Kind:
    """One component kind: how plugins register it and how recipes name it."""

    key: str  #: registry key; the hook is ``register_<key>``
    section: str  #: the recipe section that names components of this kind
    base: type[Component]  #: the class every component of this kind subclasses
    many: bool  #: a list in the recipe (``[[section]]``) rather than one table (``[section]``)
    method: str  #: the method a component implements
    variants: tuple[type[Component], ...] = ()  #: sub-kinds with a base class of their own
    default: Any = None  #: the recipe value when the section is absent; None: the section is required

    @property
    def hook(self) -> str:
        return f"register_{self.key}"

    @property
    def singular(self) -> str:
        """The kind in words, as messages name it ("feature extractor")."""
        return self.base.kind

    @property
    def bases(self) -> tuple[type[Component], ...]:
        return (self.base, *self.variants)

    def method_of(self, cls: type[Component]) -> str:
        """The method a subclass of ``cls`` implements: the kind's, unless that base class names its own."""
        return cls.implement or self.method


#: In recipe order.
KINDS: tuple[Kind, ...] = (
    Kind("datasets", "dataset", Dataset, many=False, method="scan"),
    Kind("protocols", "protocol", Protocol, many=False, method="split", default={"name": "random"}),
    Kind("preprocessors", "preprocess", Preprocessor, many=True, method="__call__", default=[]),
    Kind(
        "augmenters",
        "augment",
        Augmenter,
        many=True,
        method="__call__",
        variants=(FeatureAugmenter,),
        default=[],
    ),
    Kind("feature_extractors", "features", FeatureExtractor, many=False, method="__call__"),
    Kind("models", "model", Model, many=False, method="build", variants=(EstimatorModel,)),
)


def all_kinds() -> tuple[Kind, ...]:
    """Every kind, read at call time (so a kind added to the table is seen everywhere)."""
    return KINDS


def by_key(key: str) -> Kind:
    for kind in KINDS:
        if kind.key == key:
            return kind
    raise KeyError(key)


def kind_of(component: Component | type[Component]) -> Kind:
    """The kind a component (or component class) belongs to."""
    cls = component if isinstance(component, type) else type(component)
    for kind in KINDS:
        if issubclass(cls, kind.base):
            return kind
    raise TypeError(f"{cls.__name__} is not a component of any kind")


def type_name(cls: type[Component]) -> str:
    """A base class as a snake-case word: ``FeatureAugmenter`` -> ``feature_augmenter``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def component_types() -> dict[str, tuple[Kind, type[Component]]]:
    """Every base class a plugin can subclass, by snake-case name (``serkit plugins new`` offers these)."""
    return {type_name(cls): (kind, cls) for kind in KINDS for cls in kind.bases}
