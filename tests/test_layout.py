"""The package layout keeps its layers: the core and data layers import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "serkit"
ABOVE = ("serkit.experiment", "serkit.cli", "serkit.inference", "serkit.corpora", "serkit.authoring")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


@pytest.mark.parametrize("layer", ["core", "data"])
def test_lower_layers_do_not_import_upper_ones(layer):
    for path in sorted((PACKAGE / layer).glob("*.py")):
        upward = sorted(m for m in _imports(path) if m.startswith(ABOVE))
        assert not upward, f"{path.relative_to(PACKAGE.parent)} imports {upward}"


def test_public_import_paths_still_work():
    """What plugin packages, docs/plugins.md and generated skeletons import."""
    import serkit
    from serkit.components import Augmenter, Dataset
    from serkit.hookspecs import hookimpl
    from serkit.params import param
    from serkit.plugins import get_registry
    from serkit.testing import check_component, speech_like

    assert serkit.Augmenter is Augmenter and serkit.Dataset is Dataset and serkit.hookimpl is hookimpl
    assert serkit.param is param and callable(check_component) and callable(speech_like)
    assert set(get_registry().entries) >= {"augmenters", "models", "datasets", "protocols"}
    assert callable(serkit.load) and serkit.__version__


def test_listing_plugins_imports_no_heavy_library():
    """`serkit plugins` stays fast: components import their libraries when used, not when registered."""
    import subprocess
    import sys

    code = (
        "import sys; from serkit.core.registry import get_registry; get_registry().listing(); "
        "heavy = ('torch', 'sklearn', 'scipy.signal', 'audiomentations', 'transformers', 'opensmile', "
        "'pyroomacoustics', 'matplotlib'); print([m for m in heavy if m in sys.modules])"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
