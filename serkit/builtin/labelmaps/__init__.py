"""The built-in label maps: TOML files beside this module, one per map (``serkit plugins`` lists them)."""

from pathlib import Path

from serkit.core.hookspecs import hookimpl
from serkit.core.labels import LabelMap


@hookimpl
def register_label_maps(register):
    for path in sorted(Path(__file__).parent.glob("*.toml")):
        register(LabelMap.from_toml(path))
