"""Deprecated (goes in serkit 0.4): ``param`` is in :mod:`serkit`."""

import warnings

from serkit.core.params import REQUIRED, ParamSpec, param, param_specs

__all__ = ["REQUIRED", "ParamSpec", "param", "param_specs"]

warnings.warn(
    "serkit.params is deprecated and goes in serkit 0.4: use from serkit import param",
    DeprecationWarning,
    stacklevel=2,
)
