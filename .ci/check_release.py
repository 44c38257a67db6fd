"""The release artefacts: serkit's and every plugin package's sdist and wheel built (``python -m build``), their
metadata checked (``twine check``), each wheel's files listed against the package's source files (every module and
every package-data file: py.typed, the label maps, the catalogue), and each version against its pyproject.toml.

    python .ci/check_release.py OUT_DIR      # with build and twine installed (CI gives them a venv of their own)
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def projects() -> list[Path]:
    return [ROOT, *sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())]


def package_files(project: Path, package: str) -> set[str]:
    """The files of ``package`` in the source tree (its modules and data; no caches), as paths inside a wheel."""
    found = (p for p in (project / package).rglob("*") if p.is_file())
    return {
        p.relative_to(project).as_posix()
        for p in found
        if "__pycache__" not in p.parts and p.suffix not in (".pyc", ".so") and ".egg-info" not in p.as_posix()
    }


def check(project: Path, out: Path) -> list[str]:
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    name, version = meta["name"], meta["version"]
    dist = out / name
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(project)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    built = sorted(dist.iterdir())
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, built)], check=True)
    problems = []
    wheels = [p for p in built if p.suffix == ".whl"]
    sdists = [p for p in built if p.name.endswith(".tar.gz")]
    normalised = name.replace("-", "_")
    if [w.name for w in wheels] != [f"{normalised}-{version}-py3-none-any.whl"] or len(sdists) != 1:
        problems.append(f"{name}: expected one wheel and one sdist of {version}, built {[p.name for p in built]}")
        return problems
    with zipfile.ZipFile(wheels[0]) as wheel:
        inside = set(wheel.namelist())
    package = "serkit" if project == ROOT else normalised
    missing = sorted(package_files(project, package) - inside)
    if missing:
        problems.append(f"{name}: the wheel lacks {len(missing)} file(s) of the package, e.g. {missing[:5]}")
    if project == ROOT:
        for data in ("serkit/py.typed", "serkit/builtin/labelmaps/basic.toml", "serkit/builtin/catalogue.toml"):
            if data not in inside:
                problems.append(f"serkit: the wheel lacks {data}")
    stray = sorted(n for n in inside if n.split("/")[0] in ("tests", "recipes", "benchmarks", "docs"))
    if stray:
        problems.append(f"{name}: the wheel carries files outside the package, e.g. {stray[:3]}")
    print(f"{name} {version}: {wheels[0].name} ({len(inside)} files) and {sdists[0].name}, twine check passed")
    return problems


def main() -> None:
    out = Path(sys.argv[1])
    problems = [problem for project in projects() for problem in check(project, out)]
    for problem in problems:
        print(f"release check: {problem}", file=sys.stderr)
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
