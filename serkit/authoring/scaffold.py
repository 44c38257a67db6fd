"""`serkit plugins new KIND NAME`: a ready plugin package that installs and passes its tests as written."""

from __future__ import annotations

import re
from pathlib import Path

from serkit.core.components import Component
from serkit.core.errors import SerkitError
from serkit.core.kinds import Kind, component_types
from serkit.core.version import __version__

#: component type (see :func:`serkit.core.kinds.component_types`) -> (example class body, extra test)
EXAMPLES: dict[str, tuple[str, str]] = {
    "preprocessor": (
        '''    """Change the level by a fixed number of decibels."""

    name = "{name}"
    gain_db: float = param(-6.0, "gain in decibels", ge=-60, le=60)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        return (wave * np.float32(10 ** (self.gain_db / 20))).astype(np.float32), sample_rate
''',
        """

def test_changes_the_level():
    wave = speech_like(16000)
    out, rate = {cls}(gain_db=-20.0)(wave, 16000)
    assert rate == 16000 and np.allclose(out, wave / 10, atol=1e-6)
""",
    ),
    "augmenter": (
        '''    """Scale the level by a random gain in decibels."""

    name = "{name}"
    max_db: float = param(6.0, "largest gain or attenuation in decibels", gt=0, le=40)

    def __call__(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        gain_db = rng.uniform(-self.max_db, self.max_db)  # draw only from rng: runs stay reproducible
        return (wave * np.float32(10 ** (gain_db / 20))).astype(np.float32)
''',
        """

def test_gain_stays_within_the_range():
    wave = speech_like(16000)
    for seed in range(20):
        out = {cls}(max_db=6.0)(wave, 16000, np.random.default_rng(seed))
        ratio = np.max(np.abs(out)) / np.max(np.abs(wave))
        assert 10 ** (-6 / 20) - 1e-6 <= ratio <= 10 ** (6 / 20) + 1e-6
""",
    ),
    "feature_augmenter": (
        '''    """Add a small random offset to every feature value (acts on features, not audio)."""

    name = "{name}"
    scale: float = param(0.5, "standard deviation of the offsets", gt=0)

    def __call__(self, features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return (features + self.scale * rng.standard_normal(features.shape)).astype(np.float32)
''',
        "",
    ),
    "feature_extractor": (
        '''    """Log-magnitude STFT spectrogram in dB."""

    name = "{name}"
    shape = "image"  # (channels, bands, frames); "sequence" is (frames, dims), "vector" (dims,)
    storage = "float16"  # dB values fit float16; use "float32" for values beyond +-65504
    n_fft: int = param(512, "FFT size in samples", ge=16)
    hop_length: int = param(256, "hop in samples", ge=1)

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        import librosa

        magnitude = np.abs(librosa.stft(wave, n_fft=self.n_fft, hop_length=self.hop_length))
        return librosa.amplitude_to_db(magnitude, ref=1.0)[np.newaxis].astype(np.float32)
''',
        """

def test_shape():
    assert {cls}(n_fft=512, hop_length=256)(speech_like(16000), 16000).shape == (1, 257, 63)
""",
    ),
    "model": (
        '''    """A small convolutional network with global average pooling."""

    name = "{name}"
    accepts = ("image",)  # the feature shapes it takes: "image", "sequence", "vector"
    channels: int = param(16, "convolution channels", ge=1)

    def build(self, input_shape: tuple[int, ...], n_classes: int):
        from torch import nn

        convolution = nn.Conv2d if len(input_shape) == 3 else nn.Conv1d
        pooling = nn.AdaptiveAvgPool2d(1) if len(input_shape) == 3 else nn.AdaptiveAvgPool1d(1)
        return nn.Sequential(
            convolution(input_shape[0], self.channels, 3, padding=1),
            nn.ReLU(),
            pooling,
            nn.Flatten(),
            nn.Linear(self.channels, n_classes),
        )
''',
        """

def test_trains_two_epochs_on_the_cpu():
    losses = check_trains({cls}(), (1, 40, 101), 3, "fp32")  # serkit's trainer, an image of 40 bands
    assert len(losses) == 2
""",
    ),
    "dataset": (
        '''    """Audio files in one folder per label, named SPEAKER_anything.wav."""

    name = "{name}"
    root: str = param(help="folder holding one sub-folder per label")

    def scan(self) -> Scan:
        folder = Path(self.root).expanduser()
        if not folder.is_dir():
            raise SerkitError(f"dataset.root: folder '{{self.root}}' does not exist")
        files = sorted(folder.glob("*/*.wav"))
        utterances = [Utterance(str(path), path.parent.name, path.stem.split("_")[0]) for path in files]
        if not utterances:
            raise SerkitError(f"dataset.root: no LABEL/SPEAKER_*.wav files under '{{self.root}}'")
        labels = sorted({{u.label for u in utterances}})
        return Scan(utterances, labels, [f"{{len(utterances)}} files, {{len(labels)}} labels"])
''',
        """

def test_scans_a_folder_per_label(tmp_path):
    import soundfile

    for label in ("angry", "calm"):
        (tmp_path / label).mkdir()
        for speaker in ("s1", "s2"):
            soundfile.write(tmp_path / label / f"{{speaker}}_take1.wav", speech_like(16000), 16000)
    dataset = {cls}(root=str(tmp_path))
    check_component(dataset)
    scan = dataset.scan()
    assert scan.labels == ["angry", "calm"] and {{u.speaker for u in scan.utterances}} == {{"s1", "s2"}}
""",
    ),
    "protocol": (
        '''    """Hold out the first speakers (sorted by name) for testing."""

    name = "{name}"
    speaker_independent = True
    test_speakers: int = param(1, "how many speakers to hold out", ge=1)

    def split(self, utterances: list[Utterance], seed: int) -> list[Fold]:
        speakers = sorted({{u.speaker for u in utterances}})
        if self.test_speakers >= len(speakers):
            raise SerkitError(f"protocol.test_speakers: holding out {{self.test_speakers}} leaves none for training")
        held_out = set(speakers[: self.test_speakers])
        train = [i for i, u in enumerate(utterances) if u.speaker not in held_out]
        test = [i for i, u in enumerate(utterances) if u.speaker in held_out]
        return [Fold("held-out", train, test)]

    def describe(self, utterances: list[Utterance]) -> str:
        return f"speaker-independent: the first {{self.test_speakers}} speaker(s) held out for testing"
''',
        "",
    ),
    "estimator_model": (
        '''    """k nearest neighbours on feature vectors (a scikit-learn estimator, saved with skops)."""

    name = "{name}"
    accepts = ("vector",)
    neighbours: int = param(5, "neighbours that vote", ge=1)

    def estimator(self, seed: int, class_weight: str | None):
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(self.neighbours)  # takes no class weights or seed
''',
        "",
    ),
}

#: kind -> (further standard-library or third-party imports, names imported from serkit)
IMPORTS = {
    "preprocessor": ("import numpy as np", "Preprocessor"),
    "augmenter": ("import numpy as np", "Augmenter"),
    "feature_augmenter": ("import numpy as np", "FeatureAugmenter"),
    "feature_extractor": ("import numpy as np", "FeatureExtractor"),
    "model": ("", "Model"),
    "estimator_model": ("", "EstimatorModel"),
    "dataset": ("from pathlib import Path", "Dataset, Scan, SerkitError, Utterance"),
    "protocol": ("", "Fold, Protocol, SerkitError, Utterance"),
}

MODULE = '''"""{description}: a serkit {kind} plugin."""

from __future__ import annotations

from dataclasses import dataclass
{imports}

@dataclass(frozen=True, kw_only=True)
class {cls}({base}):
{body}

@hookimpl
def {hook}(register):
    register({cls})
'''

TEST = """{imports}from serkit.plugins import get_registry
from serkit.testing import {testing}

from {module} import {cls}


def test_keeps_the_serkit_contract():
    {contract}


def test_is_registered_through_its_entry_point():
    entry = get_registry().entries["{registry_kind}"]["{name}"]
    assert entry.cls is {cls} and entry.provider.distribution == "{distribution}"
{extra}"""

PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "{description}: a serkit {kind} plugin"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["serkit>={serkit_version}"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points.serkit]
{name} = "{module}"

[tool.setuptools]
packages = ["{module}"]

[tool.ruff]
line-length = 120
"""

README = """# {distribution}

A serkit {kind} plugin providing `{name}`.

```bash
pip install -e ".[test]"   # install it next to serkit
serkit plugins             # lists {name} under {registry_kind}, from {distribution}
python -m pytest           # its tests, including serkit's contract suite (serkit.testing)
```

Use it in a recipe:

```toml
{recipe}
```

Edit `{module}/__init__.py`: the class's docstring is its description, each `param(default, help,
ge=..., le=..., choices=...)` declares a parameter that recipes can set and serkit validates.
"""

#: Recipe lines beyond the component's name that an example needs.
RECIPE_EXTRA = {"dataset": 'root = "/data/my-corpus"'}

GENERIC_BODY = '''    """One-line description of the component (shown by `serkit plugins`)."""

    name = "{name}"
    strength: float = param(1.0, "an example parameter: declare each with a default, help text and range", gt=0)

    def {method}{signature}:
        raise NotImplementedError("implement {method}: see docs/plugins.md")
'''


FILE_PARAM = """    data_file: str = param("", "a file this component reads (empty: none)", path=True)
"""

FILE_TEST = """

def test_its_file_parameter_is_checked_and_keyed_by_content(tmp_path):
    import pytest

    from serkit import SerkitError

    with pytest.raises(SerkitError, match="does not exist"):
        {cls}.from_params({{"data_file": str(tmp_path / "missing.txt")}}, "{name}")
    data = tmp_path / "data.txt"
    data.write_text("1")
    before = {cls}.from_params({{"data_file": str(data)}}, "{name}").identity()
    data.write_text("2")
    assert {cls}.from_params({{"data_file": str(data)}}, "{name}").identity() != before
"""


def new_plugin(kind: str, name: str, to: str | Path | None = None, dist: str = "", file_param: bool = False) -> Path:
    """Write the package ``dist`` (default ``serkit-NAME``) into ``to`` (default ./DIST); return its folder.

    ``file_param`` adds a parameter that names a file (``path=True``) and a test of it."""
    row, base_class = _checked_names(kind, name, dist)
    snake = name.replace("-", "_")
    distribution = dist or f"serkit-{snake.replace('_', '-')}"
    module = re.sub(r"[^a-z0-9_]", "_", distribution.lower())
    cls = "".join(part.capitalize() for part in snake.split("_"))
    target = Path(to) if to else Path(distribution)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SerkitError(f"{target}: folder exists and is not empty")
    body, extra = EXAMPLES.get(kind) or (_generic_body(row.method_of(base_class), base_class), "")
    if file_param:
        if kind == "dataset":
            raise SerkitError("--with-file-param: a dataset's root is already a path parameter")
        body = body.replace('    name = "{name}"\n', '    name = "{name}"\n' + FILE_PARAM, 1)
        extra += FILE_TEST
    fields = {
        "name": snake,
        "cls": cls,
        "module": module,
        "distribution": distribution,
        "kind": kind.replace("_", " "),
        "registry_kind": row.key,
        "serkit_version": __version__.split("+")[0],
        "description": f"{cls} for serkit",
    }
    contract = f"check_component({cls}())" if kind != "dataset" else "pass  # see test_scans_a_folder_per_label"
    plain, names = IMPORTS.get(kind, ("", base_class.__name__))
    serkit_line = f"from serkit import {names}, hookimpl, param\n"
    if plain.startswith("from pathlib"):  # standard library: its own block
        imports = f"{plain}\n\n{serkit_line}"
    else:  # numpy and serkit are both third-party to the plugin package
        imports = f"\n{plain}\n{serkit_line}" if plain else f"\n{serkit_line}"
    extra_test = extra.format(**fields)
    test_imports = "import numpy as np\n" if "np." in extra_test else ""
    testing = ", ".join(
        name
        for name in ("check_component", "check_trains", "speech_like")
        if name == "check_component" or name in extra_test
    )
    files = {
        "pyproject.toml": PYPROJECT.format(**fields),
        "README.md": README.format(**fields, recipe=_recipe_snippet(row, snake, kind)),
        f"{module}/__init__.py": MODULE.format(
            **fields, imports=imports, base=base_class.__name__, body=body.format(**fields), hook=row.hook
        ),
        f"tests/test_{snake}.py": TEST.format(
            **fields, contract=contract, extra=extra_test, imports=test_imports, testing=testing
        ),
    }
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _checked_names(kind: str, name: str, dist: str) -> tuple[Kind, type[Component]]:
    """The kind's registry row and base class, once KIND, NAME and --dist are known to be usable."""
    types = component_types()
    if kind not in types:
        raise SerkitError(f"KIND: unknown kind '{kind}' (choose one of {', '.join(types)})")
    if not re.fullmatch(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*", name):
        raise SerkitError(f"NAME: '{name}' must be lower-case letters and digits, words joined by - or _")
    if dist and not re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", dist):
        raise SerkitError(f"--dist: '{dist}' is not a valid distribution name (letters, digits, . _ -)")
    return types[kind]


def _recipe_snippet(row: Kind, name: str, kind: str) -> str:
    header = f"[[{row.section}]]" if row.many else f"[{row.section}]"
    return "\n".join([header, f'name = "{name}"', *([RECIPE_EXTRA[kind]] if kind in RECIPE_EXTRA else [])])


def _generic_body(method: str, base: type) -> str:
    """A component of a kind without a worked example: its declared method, to be written."""
    import inspect

    signature = str(inspect.signature(getattr(base, method))).replace("'", "")
    return GENERIC_BODY.replace("{method}", method).replace("{signature}", signature)
