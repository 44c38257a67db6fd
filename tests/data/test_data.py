"""`serkit data`: synthesis, download (against a local server), check, and the manifest dataset."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import STEREO
from http_server import ArchiveServer

from serkit import SerkitError
from serkit.builtin.datasets import Manifest, Ravdess
from serkit.cli import cli
from serkit.corpora.synth import MARKER, TARGETS, SynthConfig, synthesise_corpus, utterance_plan

SMALL = SynthConfig(actors=2, emotions=("neutral", "angry", "sad"), statements=1, repetitions=2, sample_rate=16000)


def digest_tree(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.wav")):
        digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    return synthesise_corpus(tmp_path_factory.mktemp("synth") / "corpus", SMALL)


def test_synthesis_is_byte_identical_for_a_seed_whatever_the_workers(small_corpus, tmp_path):
    again = synthesise_corpus(tmp_path / "again", SynthConfig(**{**SMALL.__dict__, "workers": 1}))
    assert digest_tree(again) == digest_tree(small_corpus)
    other = synthesise_corpus(tmp_path / "other", SynthConfig(**{**SMALL.__dict__, "seed": 1}))
    assert digest_tree(other) != digest_tree(small_corpus)


def test_synthesis_writes_ravdess_layout_and_labels(small_corpus):
    assert sorted(p.name for p in small_corpus.iterdir()) == ["Actor_01", "Actor_02", MARKER]
    scan = Ravdess(root=str(small_corpus)).scan()
    assert len(scan.utterances) == 2 * SMALL.files_per_actor == 20
    assert {u.label for u in scan.utterances} == {"neutral", "angry", "sad"}
    assert {u.speaker: u.meta["gender"] for u in scan.utterances} == {"01": "male", "02": "female"}
    assert not scan.unmatched
    expected = [name for *_, name in utterance_plan(SMALL, 1)]
    assert sorted(p.name for p in (small_corpus / "Actor_01").iterdir()) == sorted([*expected, TARGETS])
    targets = json.loads((small_corpus / "Actor_01" / TARGETS).read_text())
    assert sorted(targets) == sorted(expected)
    assert all(-1 <= t[d] <= 1 for t in targets.values() for d in ("arousal", "valence", "dominance"))

    def mean(code: str, dimension: str) -> float:
        return float(np.mean([t[dimension] for name, t in targets.items() if name.split("-")[2] == code]))

    assert mean("05", "arousal") > mean("01", "arousal") > mean("04", "arousal")  # angry > neutral > sad
    assert mean("04", "valence") < mean("01", "valence")  # sad below neutral
    info = soundfile.info(small_corpus / "Actor_01" / expected[0])
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    marker = json.loads((small_corpus / MARKER).read_text())
    assert marker["layout"] == "RAVDESS" and marker["seed"] == 0


def test_synthetic_emotions_differ_in_loudness_and_duration(small_corpus):
    def level(code: str) -> tuple[float, float]:
        """Mean RMS of the speech and mean speech span (first to last sample above 5 % of the peak)."""
        rms, spans = [], []
        for path in small_corpus.rglob(f"03-01-{code}-*.wav"):
            wave = soundfile.read(path)[0]
            loud = np.flatnonzero(np.abs(wave) > 0.05 * np.max(np.abs(wave)))
            speech = wave[loud[0] : loud[-1]]
            rms.append(np.sqrt(np.mean(speech**2)))
            spans.append(speech.size)
        return float(np.mean(rms)), float(np.mean(spans))

    angry, sad, neutral = level("05"), level("04"), level("01")
    assert angry[0] > neutral[0] > sad[0]  # loudness
    assert sad[1] > neutral[1]  # sad speech is slower


def test_synthesis_refuses_a_used_folder_and_leaves_nothing_half_written(small_corpus, tmp_path, monkeypatch):
    with pytest.raises(SerkitError, match="folder exists and is not empty"):
        synthesise_corpus(small_corpus, SMALL)
    import serkit.corpora.synth

    def broken(*args):
        raise RuntimeError("voice missing")

    monkeypatch.setattr(serkit.corpora.synth, "synthesise_actor", broken)
    # forked from this process, so that the children see the broken synthesis (forkserver's would not)
    monkeypatch.setattr(serkit.corpora.synth, "process_context", lambda: multiprocessing.get_context("fork"))
    with pytest.raises(SerkitError, match=r"synthesis into .*failed: RuntimeError: voice missing"):
        synthesise_corpus(tmp_path / "broken", SMALL)
    assert not (tmp_path / "broken").exists()
    assert not list(tmp_path.glob(".broken.partial*"))


def test_synth_command_and_its_errors(cli_runner, tmp_path):
    out = tmp_path / "cli-corpus"
    result = cli_runner.invoke(
        cli,
        [
            "data",
            "synth",
            str(out),
            "--actors",
            "1",
            "--emotions",
            "happy",
            "--statements",
            "1",
            "--repetitions",
            "1",
            "--sample-rate",
            "16000",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(list(out.rglob("*.wav"))) == 2 and "wrote 2 files" in result.output
    bad = cli_runner.invoke(cli, ["data", "synth", str(tmp_path / "x"), "--emotions", "joy"])
    assert bad.exit_code == 1 and "Error: emotions: unknown joy" in bad.output
    blocked = tmp_path / "file"
    blocked.write_text("")
    unwritable = cli_runner.invoke(cli, ["data", "synth", str(blocked / "corpus")])
    assert unwritable.exit_code == 1 and "cannot write here" in unwritable.output


# -- download ------------------------------------------------------------------------------------


def make_archive(folder: Path, sources: list[Path], extra: dict[str, bytes] | None = None) -> Path:
    archive = folder / "archive.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sources:
            bundle.write(path, f"{path.parent.name}/{path.name}")
        for name, data in (extra or {}).items():
            bundle.writestr(name, data)
    return archive


@pytest.fixture
def served(tmp_path, ravdess_root):
    folder = tmp_path / "www"
    folder.mkdir()
    sources = sorted((ravdess_root / "Actor_01").glob("*.wav"))[:6]
    archive = make_archive(folder, sources)
    with ArchiveServer(folder) as server:
        yield server, archive


def download(cli_runner, server, to: Path, *extra: str):
    return cli_runner.invoke(
        cli, ["data", "download", "ravdess", "--to", str(to), "--url", server.url("archive.zip"), *extra]
    )


def test_download_verifies_and_extracts(cli_runner, served, tmp_path):
    server, archive = served
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    result = download(cli_runner, server, tmp_path / "ravdess", "--sha256", sha)
    assert result.exit_code == 0, result.output
    assert "checksum verified" in result.output
    assert len(Ravdess(root=str(tmp_path / "ravdess")).scan().utterances) == 6
    assert not list(tmp_path.glob("ravdess-*.zip*"))  # archive removed after extraction


def test_interrupted_download_resumes(cli_runner, served, tmp_path):
    server, archive = served
    server.cut_after = archive.stat().st_size // 3
    first = download(cli_runner, server, tmp_path / "ravdess")
    assert first.exit_code == 1 and "interrupted" in first.output and "again to resume" in first.output
    (part,) = tmp_path.glob("ravdess-*.part")
    assert part.stat().st_size == archive.stat().st_size // 3
    second = download(cli_runner, server, tmp_path / "ravdess", "--md5", hashlib.md5(archive.read_bytes()).hexdigest())
    assert second.exit_code == 0, second.output
    assert server.ranges[-1] == f"bytes={archive.stat().st_size // 3}-"
    assert len(list((tmp_path / "ravdess").rglob("*.wav"))) == 6


def test_checksum_mismatch_removes_the_archive(cli_runner, served, tmp_path):
    server, _ = served
    result = download(cli_runner, server, tmp_path / "ravdess", "--sha256", "0" * 64)
    assert result.exit_code == 1 and "checksum mismatch" in result.output and "file was removed" in result.output
    assert not list(tmp_path.glob("ravdess-*")) and not (tmp_path / "ravdess").exists()


def test_archive_escaping_the_folder_is_refused(cli_runner, tmp_path, ravdess_file):
    folder = tmp_path / "www"
    folder.mkdir()
    make_archive(folder, [ravdess_file], {"../../evil.txt": b"owned"})
    with ArchiveServer(folder) as server:
        result = download(cli_runner, server, tmp_path / "out" / "ravdess")
    assert result.exit_code == 1
    assert "entry '../../evil.txt' would be written outside" in result.output
    assert not list(tmp_path.rglob("evil.txt")) and not (tmp_path / "out" / "ravdess").exists()


def test_truncated_archive_and_missing_file_are_reported(cli_runner, tmp_path, ravdess_file):
    folder = tmp_path / "www"
    folder.mkdir()
    archive = make_archive(folder, [ravdess_file])
    archive.write_bytes(archive.read_bytes()[:2000])
    with ArchiveServer(folder) as server:
        truncated = download(cli_runner, server, tmp_path / "a")
        missing = cli_runner.invoke(
            cli, ["data", "download", "emodb", "--to", str(tmp_path / "b"), "--url", server.url("nothing.zip")]
        )
    assert truncated.exit_code == 1 and "not a readable zip archive" in truncated.output
    assert missing.exit_code == 1 and "HTTP 404" in missing.output


# -- data check ------------------------------------------------------------------------------------


def test_check_ravdess_sample_finds_the_stereo_files(cli_runner, ravdess_root):
    result = cli_runner.invoke(cli, ["data", "check", "ravdess", str(ravdess_root), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files"] == 120 and report["speakers"] == {"01": 60, "02": 60}
    assert report["multichannel_files"] == sorted(STEREO)
    assert report["channels"] == {"1": 118, "2": 2} and report["sample_rates"] == {"48000": 120}
    assert report["classes"]["neutral"] == 8 and report["classes"]["angry"] == 16
    assert report["genders"] == {"female": 60, "male": 60}
    assert report["duplicates"] == [] and report["unreadable"] == [] and report["warnings"] == []
    assert 3 < report["duration_seconds"]["mean"] < 5


def test_check_finds_planted_problems(cli_runner, small_ravdess):
    files = sorted(small_ravdess.glob("*.wav"))
    shutil.copy(files[0], small_ravdess / "03-01-01-01-02-02-09.wav")  # byte-identical copy
    (small_ravdess / "03-01-02-01-01-01-05.wav").write_bytes(b"RIFF broken")  # unreadable
    shutil.copy(files[1], small_ravdess / "take3.wav")  # odd name
    result = cli_runner.invoke(cli, ["data", "check", "ravdess", str(small_ravdess), "--json", "--strict"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["duplicates"] == [sorted([files[0].name, "03-01-01-01-02-02-09.wav"])]
    assert len(report["unreadable"]) == 1 and "03-01-02-01-01-01-05.wav" in report["unreadable"][0]
    assert report["unmatched_names"] == ["take3.wav"]
    assert any("class counts differ from the published corpus" in w for w in report["warnings"])
    text = cli_runner.invoke(cli, ["data", "check", "ravdess", str(small_ravdess)], env={"COLUMNS": "200"}).output
    assert "byte-identical" in text and "take3.wav" in text


# -- manifest ------------------------------------------------------------------------------------


def write_manifest(folder: Path, rows: list[str]) -> Path:
    path = folder / "manifest.csv"
    path.write_text("path,label,speaker,gender\n" + "\n".join(rows) + "\n")
    return path


def test_manifest_lists_any_corpus(ravdess_root, tmp_path, cli_runner):
    actor = ravdess_root / "Actor_02"
    rows = [
        f"{p},{'angry' if '-05-' in p.name else 'other'},s{i % 3},female"
        for i, p in enumerate(sorted(actor.glob("*.wav"))[:12])
    ]
    manifest = write_manifest(tmp_path, rows)
    scan = Manifest(root=str(manifest)).scan()
    assert len(scan.utterances) == 12 and scan.labels == sorted({r.split(",")[1] for r in rows})
    assert scan.utterances[0].meta == {"gender": "female"}
    report = json.loads(cli_runner.invoke(cli, ["data", "check", "manifest", str(manifest), "--json"]).stdout)
    assert report["files"] == 12 and report["speakers"] == {"s0": 4, "s1": 4, "s2": 4}


def test_manifest_errors_name_the_line(ravdess_file, tmp_path):
    good = f"{ravdess_file},angry,s1,female"
    with pytest.raises(SerkitError, match=r"manifest\.csv:3: file 'missing\.wav' does not exist"):
        Manifest(root=str(write_manifest(tmp_path, [good, "missing.wav,angry,s1,female"]))).scan()
    with pytest.raises(SerkitError, match=r"manifest\.csv:2: unknown label 'angyr'; did you mean 'angry'\?"):
        Manifest(root=str(write_manifest(tmp_path, [f"{ravdess_file},angyr,s1,f"])), labels=["angry", "sad"]).scan()
    (tmp_path / "bad.csv").write_text("file,label\nx.wav,angry\n")
    with pytest.raises(SerkitError, match=r"missing column\(s\) path, speaker"):
        Manifest(root=str(tmp_path / "bad.csv")).scan()
