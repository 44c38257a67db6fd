"""Paths to the real corpora and helpers shared by the tests (importable as ``helpers`` under pytest)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SERKIT_SHARED", ROOT.parent / "shared")).resolve()
RAVDESS = SHARED / "datasets" / "ravdess-sample"
EMODB = SHARED / "datasets" / "emodb" / "wav"
STEREO = ("Actor_01/03-01-02-01-01-02-01.wav", "Actor_01/03-01-08-01-02-02-01.wav")


def missing() -> Callable[[str], NoReturn]:
    """How a test says that something it needs is not here: a skip on a developer's machine, a failure under
    ``CI=true``, where CI provides it (the corpora in ../shared, Chromium): a CI that skipped would pass."""
    return pytest.fail if os.environ.get("CI") == "true" else pytest.skip


def need(path: Path) -> Path:
    """``path`` if it is a folder; otherwise skip the test (fail it under CI), saying where the corpus was
    looked for."""
    if not path.is_dir():
        missing()(f"real corpus not found at {path} (set SERKIT_SHARED to the folder holding datasets/)")
    return path


def tiny_run_args(dataset_root: Path, tmp: Path, *overrides: str) -> list[str]:
    """`serkit run` of recipes/tiny.toml on ``dataset_root``, runs and cache under ``tmp``, plus ``--set`` overrides."""
    args = ["run", str(ROOT / "recipes" / "tiny.toml"), "--set", f"dataset.root={dataset_root}"]
    for override in (*overrides, f"run.output={tmp / 'runs'}", f"run.cache_dir={tmp / 'cache'}"):
        args += ["--set", override]
    return args


def hostile_skops(module: str, name: str, args: list[object], loader: str = "ConstructorFromReduceNode") -> bytes:
    """A real fitted estimator saved by skops, with one more attribute whose schema node builds
    ``module.name(*args)`` on load: the shape of a model file that runs code when trusted."""
    import io
    import json
    import zipfile

    import numpy as np
    import skops.io
    from sklearn.linear_model import LogisticRegression

    x, y = np.random.default_rng(0).standard_normal((12, 3)), np.arange(12) % 3
    original = zipfile.ZipFile(io.BytesIO(skops.io.dumps(LogisticRegression().fit(x, y))))
    schema = json.loads(original.read("schema.json"))

    def node(value: object) -> dict:
        if isinstance(value, dict):  # a node given as is (e.g. a FunctionNode)
            return value
        if isinstance(value, list):
            items = [node(v) for v in value]
            return {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": items}
        kind = type(value).__name__
        return {
            "__class__": kind,
            "__module__": "builtins",
            "__loader__": "JsonNode",
            "content": json.dumps(value),
            "is_json": True,
        }

    content = {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": [node(a) for a in args],
    }
    state = schema["content"]  # the estimator's attributes: a dict node, its keys' types listed beside them
    state["key_types"]["content"].append(dict(state["key_types"]["content"][0]))
    state["content"]["payload"] = {
        "__class__": name,
        "__module__": module,
        "__loader__": loader,
        "content": content,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as bundle:
        for item in original.namelist():
            if item != "schema.json":
                bundle.writestr(item, original.read(item))
        bundle.writestr("schema.json", json.dumps(schema))
    return out.getvalue()


def function_node(module: str, name: str) -> dict:
    """A skops schema node that names a function (loaded as the function itself)."""
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def install_fake_distribution(site: Path, name: str, module: str, source: str, group: str = "serkit") -> None:
    """Lay out a distribution exactly as pip installs one: a module and its .dist-info with entry
    points (in ``group``: serkit's, or a mistaken one)."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{module} = {module}\n")


SEARCH = """
[tune]
name = "small"
base = "{base}"
metric = "{metric}"
trials = 4
search = "optuna"
scheduler = "asha"
grace_epochs = 1
concurrent = 1  # one by one: ASHA compares each trial with those before it, in the seeded sampler's order
set = [
  "dataset={{name = 'emodb', root = '{root}', emotions = ['anger', 'sadness', 'neutral']}}",
  "augment=[]",
  "preprocess[3].seconds=1.0",
  "train.max_epochs=4",
  "train.patience=5",
]

[space]
"train.learning_rate" = {{ choice = [1e-7, 3e-3] }}  # seed 7 draws 3e-3 first, then the hopeless 1e-7
"model.lstm_units" = {{ choice = [8, 16] }}
"""


def write_search(tmp: Path, root: Path, metric: str = "val_loss") -> Path:
    """A search file in ``tmp`` naming the base recipe and the corpus relative to ``tmp``, as a user's
    search file beside its recipes would; run and cache folders are left to the command line."""
    path = tmp / "search.toml"
    base = os.path.relpath(ROOT / "recipes" / "tiny.toml", tmp)
    path.write_text(SEARCH.format(base=base, root=os.path.relpath(root, tmp), metric=metric))
    return path


CHROMIUM = Path(os.environ.get("SERKIT_CHROMIUM", "/usr/bin/chromium"))
#: Each image's figure id and natural width (0 where it did not decode).
FIGURES = "els => els.map(e => [e.closest('figure').id, e.naturalWidth])"


def render_in_chromium(page: Path, shot: Path) -> dict:
    """Open an HTML file in headless Chromium (Debian's, driven by Playwright; skip, saying why, where
    either is missing): console errors, each image's natural width, the ids of the sections, and a
    full-page screenshot written to ``shot``."""
    if not CHROMIUM.is_file():
        missing()(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SERKIT_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing()("Playwright is not installed (pip install playwright; it drives the installed Chromium)")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.goto(page.resolve().as_uri())
            if tab.eval_on_selector_all("audio", "els => els.length"):  # each player has read its clip's header
                tab.wait_for_function("[...document.querySelectorAll('audio')].every(a => a.readyState >= 1)")
            tab.screenshot(path=str(shot), full_page=True)
            return {
                "errors": errors,
                "images": tab.eval_on_selector_all(
                    "img", "els => els.map(e => [e.closest('figure').id, e.naturalWidth])"
                ),
                "sections": tab.eval_on_selector_all("section", "els => els.map(e => e.id)"),
                "tables": tab.eval_on_selector_all("#results table", "els => els.length"),
                "audio": tab.eval_on_selector_all("audio", "els => els.map(e => e.duration)"),
            }
        finally:
            browser.close()


def not_blank(shot: Path) -> bool:
    """Whether a screenshot shows something: enough pixels away from the page's background colour."""
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    return float((abs(pixels - pixels[0, 0]).sum(axis=-1) > 0.1).mean()) > 0.02


def emodb_subset(folder: Path, speakers: tuple[str, ...] = ("03", "08", "09", "10", "11")) -> Path:
    """Links to the EMO-DB files of a few speakers (a quick corpus that is still real speech)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(need(EMODB).glob("*.wav")):
        if path.name[:2] in speakers:
            (folder / path.name).symlink_to(path)
    return folder
