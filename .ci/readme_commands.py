"""Print the README's set-up commands, one per line, exactly as the README states them.

    python3 .ci/readme_commands.py README.md

CI runs what this prints, so what CI runs and what the README says cannot differ. The set-up
section is the part under '## Set-up commands' up to the next '## ' heading; each of its ```bash
blocks must hold one command on one line. Exits 1, saying why, when the section is not so.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HEADING = "## Set-up commands"


def setup_commands(readme: str) -> list[str]:
    """The one-line commands of the set-up section's bash blocks, in order."""
    start = readme.find(f"\n{HEADING}\n")
    if start < 0:
        raise ValueError(f"no '{HEADING}' section")
    section = readme[start + len(HEADING) + 2 :]
    end = section.find("\n## ")
    section = section if end < 0 else section[:end]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        lines = [line for line in block.splitlines() if line.strip()]
        if len(lines) != 1:
            raise ValueError(f"a bash block of the set-up section holds {len(lines)} lines, not one command")
        commands.append(lines[0])
    if len(commands) != 2:
        raise ValueError(f"the set-up section holds {len(commands)} bash commands, not two (main job, tests)")
    return commands


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    try:
        commands = setup_commands(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(commands))
    return 0


if __name__ == "__main__":
    sys.exit(main())
