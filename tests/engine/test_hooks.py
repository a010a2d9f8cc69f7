"""The training loop's hooks: the four call points in order, and the EMA hook (the formula in float64, its own
checkpoint scored by tools/eval.py, TensorBoard ``val_ema/*``, its config keys; the exact resume of the average
is in test_exact_resume.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO, tiny_overrides
from segfw.cli import override_problem
from segfw.engine.config_checks import train_config_problems
from segfw.engine.hooks import Hook
from segfw.engine.run_dir import RunFolder
from segfw.engine.default_trainer import DefaultTrainer as Trainer

DECAY, START_ITER = 0.6, 1


class Recorder(Hook):
    """Writes down every call with the trainer's state, and the weights (float64) before and after each step."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.weights: list[dict[str, torch.Tensor]] = []

    def snapshot(self, trainer):
        self.weights.append({k: v.detach().double().clone() for k, v in trainer.model.named_parameters()})

    def before_train(self, trainer):
        self.calls.append(("before_train", trainer.iteration))
        self.snapshot(trainer)

    def before_step(self, trainer):
        self.calls.append(("before_step", trainer.iteration))

    def after_step(self, trainer):
        self.calls.append(("after_step", trainer.iteration, trainer.is_eval_step, sorted(trainer.losses),
                           None if trainer.eval_result is None else round(trainer.eval_result.summary["mIoU"], 6)))
        self.snapshot(trainer)

    def after_train(self, trainer):
        self.calls.append(("after_train", trainer.iteration, trainer.finished))


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    """A 3-step run evaluating at 2 and 3, with the EMA on and a :class:`Recorder` after the default hooks."""
    from hydra import compose, initialize_config_dir

    from conftest import CONFIGS
    from segfw.config import register_schemas

    tmp = tmp_path_factory.mktemp("hooks")
    register_schemas()
    overrides = tiny_overrides(tmp, **{"trainer.max_iters": "3", "trainer.eval_interval": "2",
                                       "trainer.ema.enabled": "true", "trainer.ema.decay": str(DECAY),
                                       "trainer.ema.start_iter": str(START_ITER)})
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose("train", overrides)
    trainer = Trainer(cfg, torch.device("cpu"), RunFolder(cfg).__enter__())  # locked until the process exits
    recorder = Recorder()
    trainer.hooks.append(recorder)
    summary = trainer.run()
    return trainer, recorder, summary


def test_a_hook_is_called_at_the_four_points_in_order(ema_run):
    _, recorder, summary = ema_run
    names = ["loss", "loss_aux", "loss_ce"]
    calls = recorder.calls
    assert [c[:4] for c in calls] == [
        ("before_train", 0),
        ("before_step", 0), ("after_step", 1, False, names),
        ("before_step", 1), ("after_step", 2, True, names),
        ("before_step", 2), ("after_step", 3, True, names),  # the last step always evaluates
        ("after_train", 3, True),
    ]
    assert calls[2][4] is None  # nothing evaluated yet; the Evaluate hook ran before this one at steps 2 and 3
    assert calls[6][4] == round(summary["mIoU"], 6)


def test_the_weight_average_follows_the_formula(ema_run):
    """ema_0 = w_0; ema_t = w_t while t <= start_iter, else decay * ema_{t-1} + (1 - decay) * w_t (float64)."""
    trainer, recorder, _ = ema_run
    reference = dict(recorder.weights[0])
    for step, weights in enumerate(recorder.weights[1:], start=1):
        decay = 0.0 if step <= START_ITER else DECAY
        reference = {k: decay * reference[k] + (1 - decay) * weights[k] for k in weights}
    ema = torch.load(trainer.ckpt_dir / "ema.pt", weights_only=True)
    last = torch.load(trainer.ckpt_dir / "last.pt", weights_only=True)
    assert ema["iteration"] == last["iteration"] == 3 and ema["ema"]["decay"] == DECAY
    moved = 0
    for name, value in reference.items():
        torch.testing.assert_close(ema["model"][name].double(), value, rtol=0, atol=1e-6)
        moved += not torch.allclose(ema["model"][name], last["model"][name])
    assert moved > 0  # an average, not a copy of the last weights
    buffers = [k for k in last["model"] if k not in reference]
    assert buffers and all(torch.equal(ema["model"][k], last["model"][k]) for k in buffers)  # BatchNorm statistics
    assert last["hooks"]["EMA"]["model"].keys() == ema["model"].keys()  # the average travels in last.pt


def test_the_average_is_scored_logged_and_saved_as_its_own_checkpoint(ema_run, tmp_path):
    trainer, _, summary = ema_run
    ema = torch.load(trainer.ckpt_dir / "ema.pt", weights_only=True)
    acc = EventAccumulator(str(trainer.run_dir), size_guidance={"scalars": 0}).Reload()
    assert [e.step for e in acc.Scalars("val_ema/mIoU")] == [e.step for e in acc.Scalars("val/mIoU")] == [2, 3]
    assert acc.Scalars("val_ema/mIoU")[-1].value == pytest.approx(ema["ema"]["summary"]["mIoU"], abs=1e-4)
    assert "val_ema_class_IoU/road" in acc.Tags()["scalars"]
    assert acc.Scalars("val/mIoU")[-1].value == pytest.approx(summary["mIoU"], abs=1e-4)
    assert "EMA weights (decay 0.6): mIoU" in (trainer.run_dir / "log.txt").read_text()

    out = tmp_path / "ema_eval.json"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    result = subprocess.run([sys.executable, str(REPO / "tools/eval.py"), f"checkpoint={trainer.ckpt_dir / 'ema.pt'}",
                             f"output={out}", "device=cpu"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(out.read_text())["mIoU"] == pytest.approx(ema["ema"]["summary"]["mIoU"], abs=1e-6)


def test_ema_keys_are_checked(compose, tmp_path):
    problem = override_problem("train", ["trainer.ema.decy=0.9"])
    assert problem is not None and "'trainer.ema.decy'" in problem and "did you mean 'trainer.ema.decay'" in problem
    cfg = compose("train", tiny_overrides(tmp_path, **{"trainer.ema.decay": "1.5", "trainer.ema.start_iter": "-1"}))
    assert train_config_problems(cfg) == [
        "trainer.ema.decay=1.5 is invalid: give a number in (0, 1), e.g. 0.999",
        "trainer.ema.start_iter=-1 is invalid: give a whole number >= 0",
    ]
