"""Plugin loading and the component registry.

Built-in components are ordinary plugins listed in ``DEFAULT_PLUGINS``; third-party
plugins load from the ``serkit`` entry-point group. ``SERKIT_LOAD_PLUGINS=a,b`` restricts
which installed plugins load (an empty value loads none but the built-ins).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata as metadata
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import pluggy

from serkit.core import hookspecs
from serkit.core.components import Component, FeatureExtractor, Model
from serkit.core.errors import SerkitError
from serkit.core.guard import describe
from serkit.core.kinds import Kind, all_kinds, by_key, kind_of
from serkit.core.labels import LabelMap
from serkit.core.params import param_specs, supported
from serkit.core.suggest import did_you_mean
from serkit.core.version import __version__

ENTRY_POINT_GROUP = "serkit"

DEFAULT_PLUGINS = (
    "serkit.builtin.preprocessors",
    "serkit.builtin.augmenters",
    "serkit.builtin.catalogue",
    "serkit.builtin.features",
    "serkit.builtin.spectral",
    "serkit.builtin.classical",
    "serkit.builtin.models",
    "serkit.builtin.datasets",
    "serkit.builtin.protocols",
    "serkit.builtin.labelmaps",
)


@dataclass(frozen=True)
class Provider:
    """Where a plugin comes from."""

    plugin: str
    distribution: str
    version: str

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}"


@dataclass(frozen=True)
class Entry:
    """One registered component class and the plugin that provided it."""

    kind: str
    cls: type[Component]
    provider: Provider

    @property
    def name(self) -> str:
        return self.cls.name


@dataclass(frozen=True)
class Problem:
    """A plugin that could not load or registered something invalid."""

    provider: Provider
    message: str

    def __str__(self) -> str:
        return f"plugin package {self.provider} (entry point '{self.provider.plugin}'): {self.message}"


@dataclass(frozen=True)
class LabelMapEntry:
    """One registered label map and the plugin that provided it."""

    label_map: LabelMap
    provider: Provider


#: The hook that registers label maps (data, not components: no kind of their own).
LABEL_MAP_HOOK = "register_label_maps"


@dataclass
class Registry:
    """Every component by kind and name, and every label map, with the problems met while collecting them."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k.key: {} for k in all_kinds()})
    problems: list[Problem] = field(default_factory=list)
    label_maps: dict[str, LabelMapEntry] = field(default_factory=dict)

    def label_map(self, name: str, where: str) -> LabelMap:
        """The label map called ``name``, or a SerkitError naming ``where`` and the closest name."""
        if name not in self.label_maps:
            known = ", ".join(sorted(self.label_maps)) or "none"
            raise SerkitError(
                f"{where}: unknown label map '{name}'{did_you_mean(name, self.label_maps)} (available: {known}; "
                "serkit plugins lists them)"
            )
        return self.label_maps[name].label_map

    def get(self, kind: str, name: Any, where: str) -> Entry:
        """The entry for ``name``, or a SerkitError naming ``where`` and the closest name."""
        known = self.entries[kind]
        if not isinstance(name, str):
            raise SerkitError(f"{where}: expected a component name (string), got {name!r}")
        if name not in known:
            singular = by_key(kind).singular
            hint = did_you_mean(name, known)
            names = ", ".join(sorted(known)) or "none"
            broken = "".join(f"; note: {p}" for p in self.problems)
            if _filtered_out:
                left = ", ".join(sorted(set(_filtered_out)))
                broken += f"; note: SERKIT_LOAD_PLUGINS left out the installed plugin(s) {left}"
            raise SerkitError(f"{where}: unknown {singular} '{name}'{hint} (available: {names}){broken}")
        return known[name]

    def culprit(self, component: Component) -> str:
        """The component in words with the distribution that provided it, for error messages."""
        entry = self.entries.get(kind_of(component).key, {}).get(component.name)
        return describe(component, str(entry.provider) if entry else None)

    def origins(self) -> dict[str, str]:
        """``"<kind>:<name>"`` -> ``"<distribution> <version>"`` for every component."""
        return {
            f"{entry.cls.kind}:{name}": str(entry.provider)
            for entries in self.entries.values()
            for name, entry in entries.items()
        }

    def listing(self) -> dict[str, Any]:
        """Every component by kind with its provider and parameters, and the plugin problems (``--json``)."""
        components = {
            kind: [
                {
                    "name": name,
                    "distribution": entry.provider.distribution,
                    "version": entry.provider.version,
                    "plugin": entry.provider.plugin,
                    "description": entry.cls.description(),
                    "parameters": [spec.to_dict() for spec in entry.cls.params()],
                    **_shapes(entry.cls),
                }
                for name, entry in sorted(entries.items())
            ]
            for kind, entries in self.entries.items()
        }
        problems = [
            {"plugin": p.provider.plugin, "distribution": p.provider.distribution, "error": p.message}
            for p in self.problems
        ]
        label_maps = [
            {
                "name": name,
                "distribution": entry.provider.distribution,
                "version": entry.provider.version,
                "description": entry.label_map.description,
                "classes": list(entry.label_map.classes),
                "aliases": dict(entry.label_map.aliases),
            }
            for name, entry in sorted(self.label_maps.items())
        ]
        return {"components": components, "label_maps": label_maps, "problems": problems}

    def raise_problems(self) -> None:
        """Stop with the first plugin problem (used before a run starts)."""
        if self.problems:
            more = f" (and {len(self.problems) - 1} more; see 'serkit plugins')" if len(self.problems) > 1 else ""
            raise SerkitError(f"{self.problems[0]}{more}")


def _shapes(cls: type[Component]) -> dict[str, Any]:
    """The feature shape an extractor gives with its default parameters, or the shapes a model takes."""
    if issubclass(cls, FeatureExtractor):
        try:
            instance = cls()
            return {"shape": instance.output_shape(), "storage": instance.storage_dtype()}
        except Exception:  # a parameter without a default: what the class declares
            return {"shape": cls.shape, "storage": cls.storage}
    if issubclass(cls, Model):
        return {"accepts": list(cls.accepts)}
    return {}


_manager: pluggy.PluginManager | None = None
#: Installed plugin distributions that SERKIT_LOAD_PLUGINS kept from loading.
_filtered_out: list[str] = []
_providers: dict[str, Provider] = {}
_load_problems: list[Problem] = []
#: Problems of plugins' commands (the register_commands hook), found when the command line loads them: listed by
#: ``serkit plugins``, never a reason to stop a run (serkit's own commands do not depend on them).
command_problems: list[Problem] = []


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loading built-ins and entry points on first use."""
    global _manager
    if _manager is None:
        manager = pluggy.PluginManager("serkit")
        manager.add_hookspecs(hookspecs)
        for module_name in DEFAULT_PLUGINS:
            module = importlib.import_module(module_name)
            manager.register(module, name=module_name)
            _providers[module_name] = Provider(module_name, "serkit", __version__)
        _load_entry_points(manager)
        _load_problems.extend(_foreign_groups())
        _manager = manager
    return _manager


def reset_plugin_manager() -> None:
    """Forget loaded plugins so the next use loads them again (tests, or after installing one)."""
    global _manager
    _manager = None
    _providers.clear()
    _load_problems.clear()
    command_problems.clear()
    _filtered_out.clear()


def _allowed_plugins() -> set[str] | None:
    value = os.environ.get("SERKIT_LOAD_PLUGINS")
    if value is None:
        return None
    return {normalise_name(name) for name in value.split(",") if name.strip()}


def normalise_name(name: str) -> str:
    """A distribution or entry-point name as pip compares them (case, and ``_`` against ``-``)."""
    return name.strip().lower().replace("_", "-")


def _load_entry_points(manager: pluggy.PluginManager) -> None:
    allowed = _allowed_plugins()
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist else "unknown"
        dist_version = dist.version if dist else "?"
        if allowed is not None and not {normalise_name(dist_name), normalise_name(entry_point.name)} & allowed:
            _filtered_out.append(dist_name)
            continue
        provider = Provider(entry_point.name, dist_name, dist_version)
        try:
            plugin = _load_guarded(entry_point)
            manager.register(plugin, name=entry_point.name)
        except Exception as exc:  # a third-party plugin may fail in any way
            _load_problems.append(Problem(provider, f"failed to load: {type(exc).__name__}: {exc}"))
            continue
        _providers[entry_point.name] = provider


def _load_guarded(entry_point: metadata.EntryPoint) -> Any:
    """Import a plugin so that it can neither end the process nor read serkit's command line."""
    argv = sys.argv
    sys.argv = argv[:1]
    try:
        return entry_point.load()
    except SystemExit as exc:
        raise RuntimeError(f"it called sys.exit({exc.code!r}) while being imported") from None
    finally:
        sys.argv = argv


def provider_of(plugin_name: str) -> Provider:
    return _providers.get(plugin_name, Provider(plugin_name, plugin_name, "(registered at run time)"))


def get_registry() -> Registry:
    """Collect every component from every loaded plugin."""
    manager = get_plugin_manager()
    registry = Registry(problems=list(_load_problems))
    for name, plugin in manager.list_name_plugin():
        if name not in DEFAULT_PLUGINS:
            registry.problems += _registration_mistakes(manager, plugin, provider_of(name))
    for kind in all_kinds():
        hook = getattr(manager.hook, kind.hook)
        for impl in hook.get_hookimpls():
            provider = provider_of(manager.get_name(impl.plugin) or impl.plugin_name)
            _collect(registry, kind, impl, provider)
    for impl in getattr(manager.hook, LABEL_MAP_HOOK).get_hookimpls():
        _collect_label_maps(registry, impl, provider_of(manager.get_name(impl.plugin) or impl.plugin_name))
    return registry


def _collect_label_maps(registry: Registry, impl: Any, provider: Provider) -> None:
    found: list[Any] = []
    try:
        impl.function(register=found.append)
        for label_map in found:
            if not isinstance(label_map, LabelMap):
                raise TypeError(f"{label_map!r} is not a serkit.LabelMap")
    except Exception as exc:  # a third-party plugin may fail in any way
        registry.problems.append(Problem(provider, f"{LABEL_MAP_HOOK} failed: {type(exc).__name__}: {exc}"))
        return
    for label_map in found:
        if label_map.name in registry.label_maps:
            other = registry.label_maps[label_map.name].provider
            registry.problems.append(
                Problem(provider, f"label map '{label_map.name}' is registered by both {other} and {provider}")
            )
            continue
        registry.label_maps[label_map.name] = LabelMapEntry(label_map, provider)


def _registration_mistakes(manager: pluggy.PluginManager, plugin: object, provider: Provider) -> list[Problem]:
    """Hook functions serkit would never call: marked ``@hookimpl`` under a name that is no serkit
    hook (a misspelling), or named like a hook without the mark."""
    hooks = [kind.hook for kind in all_kinds()] + [LABEL_MAP_HOOK]
    found = []
    for attribute in sorted(dir(plugin)):
        if not attribute.startswith("register") or not callable(getattr(plugin, attribute, None)):
            continue
        marked = manager.parse_hookimpl_opts(plugin, attribute) is not None
        if marked and attribute not in hooks:
            found.append(
                f"'{attribute}' is marked @hookimpl but is not a serkit hook{did_you_mean(attribute, hooks)}, so "
                f"serkit never calls it (the hooks: {', '.join(hooks)})"
            )
        elif not marked and attribute in hooks:
            found.append(
                f"'{attribute}' is not marked @hookimpl, so serkit never calls it: decorate it with @hookimpl "
                "(from serkit import hookimpl)"
            )
        elif not marked and attribute.startswith("register_") and did_you_mean(attribute, hooks):
            found.append(
                f"'{attribute}' is neither a serkit hook{did_you_mean(attribute, hooks)} nor marked @hookimpl, "
                "so serkit never calls it"
            )
    return [Problem(provider, message) for message in found]


def _foreign_groups() -> list[Problem]:
    """Installed entry points in a group that looks meant for serkit but is not the one it reads."""
    allowed = _allowed_plugins()
    found = []
    seen = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or "unknown"
        for entry_point in dist.entry_points:
            group = entry_point.group
            if group == ENTRY_POINT_GROUP or not normalise_name(group).replace(".", "-").startswith("serkit"):
                continue
            if (name, group, entry_point.name) in seen:
                continue
            seen.add((name, group, entry_point.name))
            if allowed is not None and not {normalise_name(name), normalise_name(entry_point.name)} & allowed:
                continue
            found.append(_foreign_group(entry_point, Provider(entry_point.name, name, dist.version)))
    return found


def _foreign_group(entry_point: metadata.EntryPoint, provider: Provider) -> Problem:
    return Problem(
        provider,
        f"its entry point is in the group '{entry_point.group}', which serkit does not read, so nothing in it "
        f'loads: declare it as [project.entry-points.serkit] {entry_point.name} = "{entry_point.value}"',
    )


def _collect(registry: Registry, kind: Kind, impl: Any, provider: Provider) -> None:
    base = kind.base
    found: list[Any] = []
    try:
        impl.function(register=found.append)
        for cls in found:
            _check_component(cls, base)
    except Exception as exc:  # a third-party plugin may fail in any way
        registry.problems.append(Problem(provider, f"{kind.hook} failed: {type(exc).__name__}: {exc}"))
        return
    table = registry.entries[kind.key]
    for cls in found:
        if cls.name in table:
            other = table[cls.name].provider
            registry.problems.append(
                Problem(provider, f"{base.kind} '{cls.name}' is registered by both {other} and {provider}")
            )
            continue
        table[cls.name] = Entry(kind.key, cls, provider)


def _check_component(cls: Any, base: type[Component]) -> None:
    if isinstance(cls, base):
        raise TypeError(
            f"register() was given an instance, {cls!r}; register the class: register({type(cls).__name__})"
        )
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"{cls!r} is not a subclass of serkit.{base.__name__}")
    for klass in cls.__mro__:  # param() fields of a class that is no dataclass are no parameters
        loose = [name for name, value in vars(klass).items() if isinstance(value, dataclasses.Field)]
        if loose and "__dataclass_fields__" not in vars(klass):
            raise TypeError(
                f"{klass.__name__} declares {', '.join(loose)} with param() but is not decorated with "
                "@dataclass(frozen=True, kw_only=True), so it has no parameters: add the decorator"
            )
    if not cls.name or not isinstance(cls.name, str):
        raise TypeError(f"{cls.__name__} has no 'name'")
    stage = getattr(cls, "stage", "waveform")  # augmenters only
    if stage not in ("waveform", "features"):
        raise TypeError(f"{cls.__name__}: stage must be 'waveform' or 'features', not {stage!r}")
    for spec in param_specs(cls):
        if spec.name == "name":
            raise TypeError(f"{cls.__name__}: 'name' is reserved and cannot be a parameter")
        if not supported(spec.annotation):
            raise TypeError(
                f"{cls.name}.{spec.name}: parameter type {spec.type_name} is not supported "
                "(use bool, int, float, str, list or dict[str, ...])"
            )
        if not spec.required:
            spec.check(spec.default, f"{cls.name}.{spec.name} default")
