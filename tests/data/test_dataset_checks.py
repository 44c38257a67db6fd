"""A dataset reader's mistakes are caught where they would do harm: `serkit data check` lists them (and
fails with --strict), and `serkit run` stops before any work with one line naming the plugin and the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import RAVDESS, ROOT, need

from serkit import Dataset, Scan, Utterance, hookimpl
from serkit.cli import cli


@dataclass(frozen=True, kw_only=True)
class Careless(Dataset):
    """RAVDESS's files with one mistake planted (the ``mistake`` class attribute says which)."""

    name = "careless"
    mistake = ""

    def scan(self) -> Scan:
        files = sorted(Path(self.root).rglob("*.wav"))[:24]
        labels = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
        utterances = [Utterance(str(f), labels[int(f.name.split("-")[2]) - 1], f.parent.name[-2:]) for f in files]
        first = utterances[0]
        if self.mistake == "empty speaker":
            utterances[0] = Utterance(first.path, first.label, "")
        elif self.mistake == "unknown label":
            utterances[0] = Utterance(first.path, "hap", first.speaker)
        elif self.mistake == "missing file":
            utterances[0] = Utterance("Actor_01/no-such-take.wav", first.label, first.speaker)
        return Scan(utterances, labels)


MISTAKES = {
    "empty speaker": "no speaker id (folds by speaker would mix its utterances)",
    "unknown label": "label 'hap' is not in the class list",
    "missing file": "Actor_01/no-such-take.wav: no such file",
}


@pytest.fixture(params=sorted(MISTAKES))
def careless(request, register_plugin):
    """The careless dataset registered with one mistake; the words that must name it."""

    class Plugin:
        @hookimpl
        def register_datasets(self, register):
            register(type("Careless", (Careless,), {"mistake": request.param}))

    register_plugin(Plugin(), "serkit-careless")
    return MISTAKES[request.param]


def test_data_check_names_the_mistake_and_strict_fails(careless, cli_runner):
    result = cli_runner.invoke(
        cli, ["data", "check", "careless", str(need(RAVDESS)), "--strict"], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 1
    assert careless in " ".join(result.output.split())


def test_a_run_stops_before_any_work_naming_the_plugin_and_the_file(careless, cli_runner, tmp_path):
    args = [
        "run",
        str(ROOT / "recipes" / "tiny.toml"),
        "--set",
        f"dataset={{name = 'careless', root = '{need(RAVDESS)}'}}",
    ]
    args += ["--set", f"run.output={tmp_path / 'runs'}", "--set", f"run.cache_dir={tmp_path / 'cache'}"]
    result = cli_runner.invoke(cli, args)
    assert result.exit_code == 1
    line = " ".join(result.output.split())
    assert "dataset 'careless' (serkit-careless" in line and "read a corpus serkit cannot use" in line
    assert careless in line
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy"))  # no work done
