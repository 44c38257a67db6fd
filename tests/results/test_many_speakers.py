"""A report of thousands of test speakers stays readable: a summary and the worst few, the distribution drawn,
every speaker in per_speaker.csv and metrics.json."""

from __future__ import annotations

import numpy as np

from serkit.results.groups import group_report
from serkit.results.render import MANY_SPEAKERS, WORST_LISTED, _group_section, group_bars
from serkit.run.outputs import per_speaker_csv


def metrics_of(speakers: int) -> dict:
    rng = np.random.default_rng(0)
    truth, predicted, who = [], [], []
    for k in range(speakers):
        labels = rng.choice(["anger", "joy", "sadness"], 6).tolist()
        truth += labels
        predicted += [x if rng.random() < 0.6 else "joy" for x in labels]
        who += [f"spk{k:04d}"] * 6
    return group_report(truth, predicted, who, [{"gender": "fm"[k % 2]} for k in range(len(who))], keys=["gender"])


def test_thousands_of_speakers_are_summarised_and_the_worst_listed():
    metrics = metrics_of(2000)
    text = "\n".join(_group_section(metrics))
    rows = [line for line in text.splitlines() if line.startswith("| spk")]
    assert len(rows) == WORST_LISTED and "the 10 worst of 2000" in text and "quartiles" in text
    worst = sorted(metrics["per_speaker"].items(), key=lambda item: (item[1]["uar"], item[0]))[:WORST_LISTED]
    assert [row.split("|")[1].strip() for row in rows] == [name for name, _ in worst]
    assert group_bars(metrics)[:4] == b"\x89PNG"  # a histogram, not 2000 bars
    table = per_speaker_csv(metrics["per_speaker"]).splitlines()
    assert len(table) == 2001 and table[0] == "speaker,test_utterances,accuracy,uar"


def test_a_few_speakers_are_all_listed():
    text = "\n".join(_group_section(metrics_of(MANY_SPEAKERS)))
    assert len([line for line in text.splitlines() if line.startswith("| spk")]) == MANY_SPEAKERS
    assert "every speaker, worst first" in text
