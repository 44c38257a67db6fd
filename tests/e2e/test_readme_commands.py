"""The README's set-up commands are what CI runs, verbatim, and they cover what the repository holds."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / ".ci"
PREFIX = "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && "


def _readme_commands():
    spec = importlib.util.spec_from_file_location("readme_commands", CI / "readme_commands.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_states_a_main_command_and_a_test_command():
    main, tests = _readme_commands().setup_commands((ROOT / "README.md").read_text())
    assert main.startswith(PREFIX) and tests.startswith(PREFIX)  # a fresh venv, the CPU wheel first
    assert main.endswith("&& serkit run recipes/quickstart.toml")
    assert tests.endswith("&& python -m pytest -q")
    plugins = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
    installed = sorted(re.findall(r"-e \./plugins/([\w-]+)", tests))
    assert installed == plugins  # every plugin package, each editable (pip 23 needs that beside -e .[test])
    assert '-e ".[test]"' in tests and "upgrade" not in main + tests


def test_ci_runs_the_readme_commands_and_nothing_in_their_place():
    script = (CI / "run").read_text()
    assert "python3 .ci/readme_commands.py README.md" in script
    assert 'bash -euo pipefail -c "$main_command"' in script and 'bash -euo pipefail -c "$test_command"' in script
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not any("upgrade" in line for line in code)  # the pip a new venv brings
    assert not any(re.search(r"pip install .*(\.\[test\]|plugins/)", line) for line in code)  # the README installs
    printed = subprocess.run(
        [sys.executable, str(CI / "readme_commands.py"), str(ROOT / "README.md")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert printed == _readme_commands().setup_commands((ROOT / "README.md").read_text())


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ("# serkit\n", "no '## Set-up commands' section"),
        ("## Set-up commands\n\n```bash\na\n```\n\n## Next\n\n```bash\nb\n```\n", "holds 1 bash commands, not two"),
        ("## Set-up commands\n\n```bash\na\nb\n```\n```bash\nc\n```\n", "holds 2 lines, not one command"),
    ],
)
def test_a_readme_whose_setup_section_ci_cannot_read_fails(tmp_path, section, error):
    readme = tmp_path / "README.md"
    readme.write_text(f"# serkit\n\n{section}")
    done = subprocess.run([sys.executable, str(CI / "readme_commands.py"), str(readme)], capture_output=True, text=True)
    assert done.returncode == 1 and error in done.stderr
