"""Voice activity detection on real speech: the `vad` preprocessor, and `predict --segments vad` on a
recording made of EMO-DB utterances and silences, read in blocks, with Audacity and ELAN exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from helpers import EMODB, RAVDESS, need

from serkit.cli import cli
from serkit.data import audio

pytest.importorskip("silero_vad", reason="pip install 'serkit[vad]'")
RECIPES = Path(__file__).resolve().parents[2] / "recipes"
#: Seconds a found segment's edges may lie from a planted utterance's first and last non-zero sample: it
#: starts within START of the first, and ends no later than END after the last (it may end well before:
#: EMO-DB's files hold up to a second of the recording's own quiet background after the speech, which
#: the detector rightly leaves out).
START_TOLERANCE, END_TOLERANCE = 0.25, 0.35


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, list[tuple[float, float]]]:
    """About 2.5 minutes at 22.05 kHz: 40 EMO-DB utterances (their zero padding cut) between 1-3 s of
    noise at -60 dBFS, and where each utterance lies."""
    files = sorted(need(EMODB).glob("*.wav"))[::13][:40]
    rng = np.random.default_rng(0)
    parts, spans, now = [], [], 0.0
    for path in files:
        gap = rng.uniform(1.0, 3.0)
        parts.append(rng.normal(0, 1e-3, round(gap * 22050)).astype(np.float32))
        wave, rate = soundfile.read(path, dtype="float32")
        wave = wave[: np.flatnonzero(wave)[-1] + 1]
        now += parts[-1].size / rate
        parts.append(wave)
        spans.append((now, now + wave.size / rate))
        now += wave.size / rate
    parts.append(rng.normal(0, 1e-3, 2 * 22050).astype(np.float32))
    path = tmp_path_factory.mktemp("planted") / "conversation.wav"
    soundfile.write(path, np.concatenate(parts), 22050)
    return path, spans


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("trained")
    args = ["run", str(RECIPES / "tiny.toml"), "--set", f"dataset.root={need(RAVDESS)}", "--set", "augment=[]"]
    for setting in ("train.max_epochs=1", "train.precision=fp32", f"run.output={tmp}", f"run.cache_dir={tmp / 'c'}"):
        args += ["--set", setting]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = tmp.glob("tiny-*")
    return run


def test_predict_segments_vad_finds_the_planted_utterances_reading_in_blocks(planted, trained, tmp_path, monkeypatch):
    path, spans = planted
    reads: list[int] = []
    original = soundfile.SoundFile.read

    def counted(self, frames=-1, *args, **kwargs):
        block = original(self, frames, *args, **kwargs)
        reads.append(len(block))
        return block

    monkeypatch.setattr(soundfile.SoundFile, "read", counted)
    args = ["predict", str(trained), str(path), "--segments", "vad", "--csv"]
    result = CliRunner().invoke(cli, [*args, "--audacity", str(tmp_path), "--elan", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(reads) > 10 and max(reads) <= 10 * 22050  # 10 s blocks, never the whole file
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    segments = [(float(r["start"]), float(r["end"])) for r in rows if r["start"]]
    assert all(0 <= float(r["uncertainty"]) <= 1 for r in rows)
    for start, end in spans:  # every utterance found, its edges within the tolerance (a pause may split it)
        inside = [s for s in segments if s[1] > start and s[0] < end]
        assert inside, (start, end)
        assert abs(inside[0][0] - start) <= START_TOLERANCE and inside[-1][1] <= end + END_TOLERANCE
        assert sum(min(b, end) - max(a, start) for a, b in inside) >= 0.4 * (end - start)
    assert all(any(s[1] > a and s[0] < b for a, b in spans) for s in segments)  # nothing found in the noise
    labels = (tmp_path / "conversation.labels.txt").read_text().splitlines()
    assert len(labels) == len(segments) and labels[0].split("\t")[0] == f"{segments[0][0]:.3f}"
    eaf = ElementTree.parse(tmp_path / "conversation.eaf").getroot()
    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in eaf.iter("TIME_SLOT")}
    annotations = list(eaf.iter("ALIGNABLE_ANNOTATION"))
    assert len(annotations) == len(segments)
    first = annotations[0]
    assert slots[first.get("TIME_SLOT_REF1")] == round(1000 * segments[0][0])
    assert first.findtext("ANNOTATION_VALUE") in {r["emotion"] for r in rows}
    document = CliRunner().invoke(cli, ["predict", str(trained), str(path), "--segments", "vad", "--json"])
    (found,) = json.loads(document.stdout)["predictions"]
    assert found["timeline"] == "speech segments" and "read in 10 s blocks" in found["notes"][0]


def test_a_recording_without_speech_is_named(trained, tmp_path):
    silence = tmp_path / "room.wav"
    soundfile.write(silence, np.random.default_rng(0).normal(0, 1e-3, 5 * 16000), 16000)
    result = CliRunner().invoke(cli, ["predict", str(trained), str(silence), "--segments", "vad"])
    assert result.exit_code == 1 and "room.wav: no speech found by voice activity detection" in result.output


def test_a_speaker_normalised_run_fits_the_speaker_on_one_recordings_segments(planted, tmp_path):
    args = ["run", str(RECIPES / "tiny.toml"), "--set", f"dataset.root={need(RAVDESS)}", "--set", "augment=[]"]
    for setting in ("train.max_epochs=1", "normalise.scope=speaker", f"run.output={tmp_path}", "report.explain=false"):
        args += ["--set", setting]
    assert CliRunner().invoke(cli, args).exit_code == 0
    (run,) = tmp_path.glob("tiny-*")
    path, spans = planted
    document = CliRunner().invoke(cli, ["predict", str(run), str(path), "--segments", "vad", "--json"])
    assert document.exit_code == 0, document.output
    (found,) = json.loads(document.stdout)["predictions"]
    said = [note for note in found["notes"] if note.startswith("normalised per speaker: the recording's")]
    assert said and f"{len(found['windows'])} speech segments" in said[0]
    assert len(found["windows"]) >= len(spans) // 2
    clip = sorted(need(EMODB).glob("*.wav"))[0]
    alone = CliRunner().invoke(cli, ["predict", str(run), str(clip)])  # one short clip: still refused
    assert alone.exit_code == 1 and "give at least two recordings of the speaker" in " ".join(alone.output.split())
    single = CliRunner().invoke(cli, ["predict", str(run), str(clip), "--segments", "vad"])
    assert single.exit_code == 1 and "holds 1 speech segment(s)" in " ".join(single.output.split())


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
def test_the_vad_preprocessor_cuts_the_silence_around_real_speech(engine):
    from serkit.builtin.preprocessors import TrimSilence, VoiceActivity

    clip = sorted(need(RAVDESS).rglob("*.wav"))[0]
    wave, rate, _ = audio.read(str(clip))
    wave = audio.mono(wave)
    trimmed, _ = VoiceActivity(engine=engine)(wave, rate)
    speech, _ = VoiceActivity(engine=engine, keep="speech")(wave, rate)
    by_energy, _ = TrimSilence()(wave, rate)
    assert speech.size <= trimmed.size < by_energy.size < wave.size  # RAVDESS: ~1 s of silence around speech
    loudest = int(np.argmax(np.abs(wave)))
    start = next(k for k in range(wave.size) if np.array_equal(wave[k : k + 64], trimmed[:64]))
    assert start <= loudest < start + trimmed.size


def test_inputs_sharing_a_name_get_their_own_timeline_files(tmp_path):
    from serkit.inference.output import output_stems

    sources = [str(tmp_path / "a" / "x.wav"), str(tmp_path / "b" / "x.wav"), str(tmp_path / "b" / "y.wav")]
    assert output_stems(sources) == ["a__x", "b__x", "y"]
    assert output_stems([str(tmp_path / "one.wav")]) == ["one"]
    assert output_stems([str(tmp_path / "a" / "x.wav"), str(tmp_path / "a" / "x.flac")]) == ["x_wav", "x_flac"]
    assert output_stems([str(tmp_path / "x.wav")] * 2) == ["x_wav", "x_wav-2"]
