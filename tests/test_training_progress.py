"""Progress bars of long trainings (dynamics.training.PROGRESS, set by the pytest plugin when stderr is a terminal).

A bar is output only: the run it watches is the same run, step for step, and no TrainConfig (so no cache key)
carries the switch. The plugin turns bars on for a terminal and leaves them off for a pipe (CI logs)."""

import io
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from dynamics import training
from dynamics.gd_cot import train_cot, train_cot_seeds
from dynamics.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
CONFIG = TrainConfig(steps=12, batch=16, lr=1e-2, log_every=4)


def _train():
    return train_cot(3, 6, 2, 0.1, CONFIG)[1].losses


def _train_seeds():
    return train_cot_seeds(3, 6, 2, 0.1, CONFIG, (1, 2))[1].losses


def test_bar_shows_steps_and_loss_and_changes_nothing(monkeypatch):
    plain, plain_seeds = _train(), _train_seeds()
    out = io.StringIO()
    monkeypatch.setattr(training, "PROGRESS", {"file": out, "delay": 0.0, "mininterval": 0.0})
    watched, watched_seeds = _train(), _train_seeds()
    assert np.array_equal(plain, watched) and np.array_equal(plain_seeds, watched_seeds)  # the bar is output only
    text = out.getvalue()
    assert "training" in text and "12/12" in text and "loss " in text and "(median of 2 seeds)" in text


def test_no_bar_by_default(capsys):
    assert training.PROGRESS is None and not CONFIG.progress
    _train()
    assert capsys.readouterr().err == ""


# Run under pytest's default output capture (as the report runs it): the switch must see through the capture.
CHECK = textwrap.dedent('''
    from pathlib import Path

    from dynamics import training

    def test_switch():
        on = training.PROGRESS is not None and training.PROGRESS["file"].isatty()
        Path("seen.txt").write_text("on" if on else "off" if training.PROGRESS is None else "not a terminal")
''')


def _switch_seen(tmp_path, stderr) -> str:
    (tmp_path / "test_switch.py").write_text(CHECK)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "verify.plugin", "-p", "no:cacheprovider",
                             "--rootdir", str(tmp_path), str(tmp_path / "test_switch.py")],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=stderr, timeout=120)
    assert result.returncode == 0, result.stdout
    return (tmp_path / "seen.txt").read_text()


def test_plugin_turns_bars_on_for_a_terminal_only(tmp_path):
    assert _switch_seen(tmp_path, subprocess.PIPE) == "off"  # a pipe: CI logs, redirected output
    leader, follower = pty.openpty()
    try:
        assert _switch_seen(tmp_path, follower) == "on"
    finally:
        os.close(follower), os.close(leader)


def test_other_training_loops_show_a_bar_only_when_switched_on(monkeypatch, capsys):
    """tree_paths' and pattern_cot's own loops go through dynamics.training.progress: off by default (the
    iterable itself), a tqdm bar on stderr when the module switch is on."""
    import io

    from dynamics import training

    assert training.progress(range(3), 3, "x") == range(3)
    buf = io.StringIO()
    monkeypatch.setattr(training, "PROGRESS", {"file": buf, "delay": 0.0, "mininterval": 0.0})
    assert list(training.progress(range(3), 3, "tree_paths training")) == [0, 1, 2]
    assert "tree_paths training" in buf.getvalue()
