"""`serkit augment preview RECIPE`: hear and see a recipe's augmentation before training on it.

For a few fit utterances of the recipe's first fold, each preprocessed as training reads it, the
examples training would get: in copies mode each waveform entry's fixed copy, in online mode the
whole policy drawn for the first epochs. Each is written as FLAC, with what was drawn, and one
self-contained page shows their log-mel spectrograms beside the original's, with audio players
(the sound embedded as data: the page fetches nothing). The examples are made by the functions
training uses (:func:`~serkit.data.pipeline.copy_wave`, :func:`~serkit.data.pipeline.online_wave`),
from the same seeds, so what is previewed is what trains.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serkit.core.components import Utterance
from serkit.core.errors import SerkitError
from serkit.core.fileio import write_bytes, write_json, write_text
from serkit.core.policy import DRAWS, policy_words, words
from serkit.core.recipe import Recipe, load_recipe
from serkit.core.registry import get_registry
from serkit.data.cache import ArrayCache, cache_folder, file_digest
from serkit.data.pipeline import Pipeline, copy_wave, online_wave, preprocessed
from serkit.results.html import Figure, Sound, page, private_paths
from serkit.results.render import md_code, md_text, png_bytes
from serkit.run.planning import plan_run, prepared_scan
from serkit.run.reporter import Reporter
from serkit.run.stages import run_pipeline


@dataclass
class Example:
    """One clip of the preview: the original or an augmented example, and what was drawn for it."""

    label: str
    wave: np.ndarray
    rate: int
    draws: list[str] = field(default_factory=list)


def preview(
    path: str | Path,
    overrides: list[str],
    files: int = 3,
    draws: int = 3,
    out: str | Path | None = None,
    reporter: Reporter | None = None,
) -> Path:
    """Write the preview of a recipe's augmentation to ``out`` (default ``<run.output>/augment-preview-<name>``)."""
    reporter = reporter or Reporter()
    registry = get_registry()
    registry.raise_problems()
    recipe = load_recipe(path, overrides, registry)
    waveform = [k for k, entry in enumerate(recipe.augment) if entry.stage != "features"]
    if not waveform:
        raise SerkitError(f"recipe '{path}': augment: no waveform entry to preview (feature entries are not sounds)")
    folder = Path(out) if out else Path(recipe.run.output) / f"augment-preview-{recipe.run.name}"
    utterances = prepared_scan(recipe).utterances
    plans, _ = plan_run(recipe, utterances)
    chosen = _spread([utterances[i] for i in plans[0].fit], files)
    pipeline = run_pipeline(recipe, registry)
    cache = ArrayCache(cache_folder(recipe.run.cache_dir))
    slots = list(range(draws)) if recipe.augmentation.mode == "online" else waveform
    record: list[dict[str, object]] = []
    sections = []
    for utterance in chosen:
        examples = _examples(recipe, pipeline, utterance, cache, slots)
        stem = Path(utterance.path).stem
        for k, example in enumerate(examples):
            write_bytes(folder / "audio" / stem / f"{k:02d}.flac", flac(example.wave, example.rate))
        shown = [
            {"label": e.label, "draws": e.draws, "audio": f"audio/{stem}/{k:02d}.flac"} for k, e in enumerate(examples)
        ]
        about = {"file": utterance.path, "label": utterance.label, "speaker": utterance.speaker}
        record.append(about | {"examples": shown})
        sections.append((utterance, examples))
        reporter.say(f"  {stem}: {len(examples) - 1} example(s)")
    write_json(folder / "draws.json", {"recipe": str(path), "mode": recipe.augmentation.mode, "files": record})
    text, figures, sounds = _page_parts(recipe, path, sections)
    write_text(folder / "preview.md", text)
    private = private_paths(recipe.dataset.location(), folder)
    clean = "Examples of training data, not results."
    write_text(folder / "preview.html", page(text, figures, [], private, clean, sounds))
    reporter.say(f"preview of {len(chosen)} file(s) written to {folder} (preview.html, audio/, draws.json)")
    return folder


def _examples(
    recipe: Recipe, pipeline: Pipeline, utterance: Utterance, cache: ArrayCache, slots: list[int]
) -> list[Example]:
    """A file's preprocessed original and its examples: each waveform entry's copy (``slots`` are entries), or
    online the policy drawn for each epoch (``slots`` are epochs), each with what was drawn."""
    digest = file_digest(utterance.path)
    wave, rate = preprocessed(pipeline, utterance.path, digest, cache)
    examples = [Example("original (preprocessed)", wave, rate)]
    for slot in slots:
        noted: list[str] = []
        token = DRAWS.set(noted)
        try:
            if recipe.augmentation.mode == "online":
                drawn = online_wave(pipeline, utterance.path, digest, slot, wave, rate)
                label = f"epoch {slot + 1}" + (" (no entry acted)" if drawn is None else "")
                made = drawn or (wave, rate)
            else:
                made = copy_wave(pipeline, utterance.path, digest, slot, wave, rate)
                label = f"copy {slot + 1}: {words(recipe.augment[slot])}"
        finally:
            DRAWS.reset(token)
        examples.append(Example(label, made[0], made[1], noted))
    return examples


def _spread(utterances: list[Utterance], count: int) -> list[Utterance]:
    """Up to ``count`` utterances, one class after another (sorted by path within a class), so that the
    preview covers several emotions."""
    by_label: dict[str, list[Utterance]] = {}
    for utterance in sorted(utterances, key=lambda u: u.path):
        by_label.setdefault(utterance.label, []).append(utterance)
    out: list[Utterance] = []
    while len(out) < count and any(by_label.values()):
        for label in sorted(by_label):
            if by_label[label] and len(out) < count:
                out.append(by_label[label].pop(0))
    return out


def flac(wave: np.ndarray, rate: int) -> bytes:
    """A clip as 16-bit FLAC, peak-limited to full scale (an augmentation may push it past 1)."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(wave, -1.0, 1.0), rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _page_parts(recipe: Recipe, path: str | Path, sections: list) -> tuple[str, list[Figure], list[Sound]]:
    online = recipe.augmentation.mode == "online"
    mode = "online: the whole policy drawn anew each epoch" if online else "copies: one fixed copy per entry"
    lines = [
        f"# Augmentation preview of {md_code(Path(path).name)}",
        "",
        f"- **Mode:** {md_text(mode)}",
        f"- **Policy:** {md_text(policy_words(recipe.augment, recipe.augmentation.mode))}",
        "- Each clip as training reads it: preprocessed, augmented from the run's seeds, its length set again by "
        "the preprocessors that re-apply. Not a result: nothing here is trained or tested.",
        "",
    ]
    figures, sounds = [], []
    for utterance, examples in sections:
        stem = Path(utterance.path).stem
        heading = md_text(f"{Path(utterance.path).name} ({utterance.label}, speaker {utterance.speaker})")
        lines += [f"## {heading}", ""]
        for k, example in enumerate(examples):
            drawn = "; ".join(example.draws) or "nothing drawn"
            lines.append(f"- **{md_text(example.label)}:** {md_text(drawn)}")
            sounds.append(Sound(heading, f"audio-{stem}-{k:02d}", example.label, flac(example.wave, example.rate)))
        lines.append("")
        caption = "Log-mel spectrograms (64 bands, one colour scale), the original first"
        figures.append(Figure(heading, f"mel-{stem}", caption, _spectrograms(examples)))
    return "\n".join(lines), figures, sounds


def _spectrograms(examples: list[Example]) -> bytes:
    """The log-mel spectrograms of a file's examples, side by side, on one colour scale."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mels = [
        librosa.power_to_db(librosa.feature.melspectrogram(y=e.wave, sr=e.rate, n_mels=64), ref=1.0) for e in examples
    ]
    low, high = max(-100.0, min(float(m.min()) for m in mels)), max(float(m.max()) for m in mels)
    figure, axes = plt.subplots(1, len(examples), figsize=(2.6 * len(examples), 2.6), squeeze=False)
    for axis, example, mel in zip(axes[0], examples, mels, strict=True):
        axis.imshow(mel, origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma")
        axis.set_title(example.label if len(example.label) < 30 else example.label[:28] + "…", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    return png_bytes(figure)
