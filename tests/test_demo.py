"""The demo as a function: bounded by epochs (its result does not depend on the clock), and
saying so when a user-given time limit cut its training short."""

from __future__ import annotations

import re

from genrenet.demo import run_demo


def test_demo_is_bounded_by_epochs_and_says_when_a_time_limit_cut_it_short(tmp_path) -> None:
    lines: list[str] = []
    small = dict(model="lenet5", genres=3, clips=4, seconds=4.0, yours=tmp_path / "none")
    result = run_demo(tmp_path / "demo", epochs=2, log=lines.append, **small)
    meta = result.classifier.metadata
    assert result.classifier.train_config.max_minutes is None  # no clock unless asked for
    assert meta["stopped_by"] in ("max_epochs", "early_stopping")
    assert meta["epochs_run"] <= 2
    text = "\n".join(lines)
    assert re.search(r"held-out track accuracy: \d+\.\d%", text)
    assert f"trained {meta['epochs_run']} epochs" in text
    assert "cut short" not in text

    lines.clear()
    limited = run_demo(tmp_path / "demo", epochs=50, max_minutes=1e-6, log=lines.append, **small)
    assert limited.classifier.metadata["stopped_by"] == "max_minutes"
    assert "training was cut short by the time limit" in "\n".join(lines)
