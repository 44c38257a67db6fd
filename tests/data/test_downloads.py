"""Each downloadable corpus fetched through the real download path from a server on 127.0.0.1: an archive
(or the archives of a corpus in parts) made here in the corpus's published layout, a few tones each,
then `serkit data check` on what was extracted; tar archives refused where an entry escapes; the corpora
to get by hand named in one line."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from http_server import ArchiveServer

from serkit.cli import cli
from serkit.corpora.emov_db import ARCHIVES, FOLDERS

TONE = io.BytesIO()
soundfile.write(TONE, (0.1 * np.sin(np.linspace(0, 300 * np.pi, 8000))).astype(np.float32), 16000, format="WAV")


def _zip(path: Path, names: list[str]) -> None:
    with zipfile.ZipFile(path, "w") as bundle:
        for name in names:
            bundle.writestr(name, TONE.getvalue())


def _tar(path: Path, names: list[str], link: str = "") -> None:
    with tarfile.open(path, "w:gz") as bundle:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = len(TONE.getvalue())
            bundle.addfile(info, io.BytesIO(TONE.getvalue()))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            bundle.addfile(info)


#: Per corpus: the archives as published (file name -> members) and what a check then finds.
LAYOUTS = {
    "subesco": (
        {"SUBESCO.zip": ["SUBESCO/F_01_OISHI_S_1_ANGRY_1.wav", "SUBESCO/M_05_RAHIM_S_10_SAD_5.wav"]},
        {"anger": 1, "sadness": 1},
    ),
    "tess": (
        {"tess.zip": ["OAF_angry/OAF_back_angry.wav", "YAF_pleasant_surprised/YAF_bath_ps.wav", "MANIFEST.TXT"]},
        {"anger": 1, "pleasant_surprise": 1},
    ),
    "shemo": (
        {"female.zip": ["female/F01A01.wav", "female/F02N03.wav"], "male.zip": ["male/M10S02.wav"]},
        {"anger": 1, "neutral": 1, "sadness": 1},
    ),
    "emov_db": (
        {f"{name}.tar.gz": [f"{FOLDERS[name.split('_')[1]]}_1-15_0001.wav"] for name in ARCHIVES},
        {"amusement": 4, "anger": 3, "disgust": 3, "neutral": 4, "sleepiness": 4},
    ),
}


@pytest.mark.parametrize("corpus", list(LAYOUTS))
def test_each_corpus_downloads_through_the_real_path_and_checks(tmp_path, cli_runner, corpus):
    archives, classes = LAYOUTS[corpus]
    www = tmp_path / "www"
    www.mkdir()
    for name, members in archives.items():
        (_tar if name.endswith(".tar.gz") else _zip)(www / name, [m for m in members if m.endswith(".wav")])
    with ArchiveServer(www) as server:
        first = next(iter(archives))
        url = server.url(first) if len(archives) == 1 else server.url("")
        result = cli_runner.invoke(cli, ["data", "download", corpus, "--to", str(tmp_path / corpus), "--url", url])
    assert result.exit_code == 0, result.output
    assert "licence: " in result.output and result.output.count("archive sha256") == 1
    assert len(server.ranges) == len(archives)  # every part fetched once
    assert not list(tmp_path.glob(f"{corpus}-*"))  # the archives removed once extracted
    checked = cli_runner.invoke(cli, ["data", "check", corpus, str(tmp_path / corpus), "--json"])
    report = json.loads(checked.stdout)
    found = {label: n for label, n in report["classes"].items() if n}
    assert found == classes, report


def test_a_tar_entry_outside_the_folder_or_a_link_is_refused(tmp_path, cli_runner):
    www = tmp_path / "www"
    www.mkdir()
    for name in ARCHIVES:
        _tar(www / f"{name}.tar.gz", ["amused_1-15_0001.wav"])
    _tar(www / "bea_Angry.tar.gz", ["anger_1-15_0001.wav", "../../evil.wav"])
    with ArchiveServer(www) as server:
        escaped = cli_runner.invoke(
            cli, ["data", "download", "emov_db", "--to", str(tmp_path / "a"), "--url", server.url("")]
        )
        assert escaped.exit_code == 1 and "entry '../../evil.wav' would be written outside" in escaped.output
        _tar(www / "bea_Angry.tar.gz", ["anger_1-15_0001.wav"], link="anger_1-15_0002.wav")
        linked = cli_runner.invoke(
            cli, ["data", "download", "emov_db", "--to", str(tmp_path / "b"), "--url", server.url("")]
        )
    assert linked.exit_code == 1 and "is not a plain file; refusing to extract" in linked.output
    assert not list(tmp_path.rglob("evil.wav")) and not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_corpora_without_a_public_archive_say_where_to_get_them(cli_runner):
    listed = cli_runner.invoke(cli, ["data", "download"])
    for name in ("crema_d", "savee", "mesd", "banglaser", "iemocap", "msp_podcast"):
        assert name in listed.output
        result = cli_runner.invoke(cli, ["data", "download", name])
        assert result.exit_code == 1 and f"'{name}' has no public archive serkit can fetch: " in result.output
        assert "point dataset.root at" in result.output and "Traceback" not in result.output
    parts = cli_runner.invoke(cli, ["data", "download", "shemo", "--sha256", "0" * 64])
    assert parts.exit_code == 1 and "comes in several archives" in parts.output
