"""Public path kept for plugin packages: parameters now live in :mod:`serkit.core.params`."""

from serkit.core.params import REQUIRED, ParamSpec, param, param_specs

__all__ = ["REQUIRED", "ParamSpec", "param", "param_specs"]
