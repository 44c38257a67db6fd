"""The package layout keeps its layers: the core and data layers import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "serkit"

#: Which of serkit's subpackages each one may import (function-level imports included). Lower layers
#: never import upper ones; inference (loading a trained model) needs the learner and the run folder,
#: never the running or the studies.
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "corpora": {"core", "data"},
    "builtin": {"core", "data", "corpora"},
    "learn": {"core", "data"},
    "results": {"core", "data", "learn"},
    "run": {"core", "data", "learn", "results"},
    "studies": {"core", "data", "learn", "results", "run"},
    "inference": {"core", "data", "learn", "results"},
    "authoring": {"core", "testing"},
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_subpackage_imports_only_the_layers_below_it(layer):
    assert (PACKAGE / layer).is_dir(), f"serkit/{layer} is gone: update ALLOWED"
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        used = {m.split(".")[1] for m in _imports(path) if m.startswith("serkit.")} - {layer}
        assert used <= ALLOWED[layer], f"{path.relative_to(PACKAGE.parent)} imports {sorted(used - ALLOWED[layer])}"


def test_every_subpackage_has_its_place():
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert packages - {"cli"} == set(ALLOWED)


def _module_graph() -> dict[str, set[str]]:
    """Which serkit modules each serkit module imports, function-level imports included (imports
    under ``if TYPE_CHECKING:`` run no code and are left out)."""
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts): p for p in PACKAGE.rglob("*.py")}
    modules = {name.removesuffix(".__init__"): path for name, path in modules.items()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
            for inner in ast.walk(node)
        }
        found = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycle_in_serkit():
    assert _cycles(_module_graph()) == []


def test_the_cycle_check_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_public_import_paths_still_work():
    """What plugin packages, docs/plugins.md and generated skeletons import: serkit, serkit.plugins
    and serkit.testing."""
    import serkit
    from serkit.plugins import get_registry
    from serkit.testing import check_component, speech_like

    assert {"Augmenter", "Dataset", "DownloadSource", "hookimpl", "param", "SerkitError"} <= set(serkit.__all__)
    assert callable(check_component) and callable(speech_like)
    assert set(get_registry().entries) >= {"augmenters", "models", "datasets", "protocols"}
    assert callable(serkit.load) and serkit.__version__


@pytest.mark.parametrize(
    ("shim", "name", "new"),
    [
        ("components", "Augmenter", "from serkit import Augmenter"),
        ("hookspecs", "hookimpl", "from serkit import hookimpl"),
        ("params", "param", "from serkit import param"),
        ("errors", "SerkitError", "from serkit import SerkitError"),
        ("audio", "read", "from serkit.data.audio import read"),
        ("hookdocs", "update", "python -m serkit.authoring.hookdocs"),
    ],
)
def test_the_0_2_compatibility_modules_work_and_warn_once_with_the_new_import(shim, name, new):
    """Kept one release for plugin packages written against 0.2; importing one names its replacement."""
    import subprocess
    import sys

    code = f"import serkit.{shim} as m; assert callable(getattr(m, {name!r}))"
    done = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("DeprecationWarning") == 1 and new in done.stderr and "serkit 0.4" in done.stderr


def test_the_skeleton_imports_only_the_public_modules(tmp_path):
    from serkit.authoring.scaffold import new_plugin

    folder = new_plugin("augmenter", "clip_it", str(tmp_path / "serkit-clip-it"), "", True)
    imported = set()
    for path in Path(folder).rglob("*.py"):
        imported |= {m for m in _imports(path) if m.startswith("serkit")}
    assert imported <= {"serkit", "serkit.plugins", "serkit.testing", "serkit_clip_it"}, imported


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


def test_no_class_over_200_lines_and_no_function_over_60():
    """Readable units: a longer one is split by what it does (compute, write, print)."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > (200 if isinstance(node, ast.ClassDef) else 60):
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({size} lines)")
    assert not long, "\n".join(long)


def test_nothing_shipped_imports_a_deprecated_module():
    """serkit and the plugin packages in this repository use the new imports (users see no warning)."""
    shims = {
        "serkit.components",
        "serkit.hookspecs",
        "serkit.params",
        "serkit.errors",
        "serkit.audio",
        "serkit.hookdocs",
    }
    shipped = [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "plugins").rglob("*.py")]
    found = []
    for path in shipped:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = set()
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            if names & shims:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not found, found


def test_the_citation_and_the_changelog_name_the_version_pyproject_gives():
    import tomllib

    root = Path(__file__).resolve().parents[1]
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    citation = (root / "CITATION.cff").read_text()
    assert f"\nversion: {version}\n" in citation
    changelog = (root / "CHANGELOG.md").read_text()
    assert f"\n## {version} — " in changelog and "## Unreleased" not in changelog.split(f"## {version}")[0]
