"""Early stopping as a hook (``trainer.extra_hooks=[early_stopping]``), and the keys of
configs/trainer/{hook,logger}/*.yaml reaching the constructors (``trainer.hook.<name>.*``, ``trainer.logger.<name>.*``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from segfw.config import compose_config
from segfw.engine.default_trainer import build_hooks, settings
from segfw.engine.hooks import EarlyStopping, Hook
from segfw.engine.loggers import build_loggers
from segfw.engine.trainer import Trainer
from segfw.errors import ConfigError
from test_trainer_loop import TinySegmentor, batches


class Scores(Hook):
    """Sets ``eval_result`` at every evaluation step from a list of mIoU values, as ``evaluate`` would."""

    def __init__(self, values):
        self.values = list(values)

    def after_step(self, trainer):
        if trainer.is_eval_step:
            trainer.eval_result = SimpleNamespace(summary={"mIoU": self.values.pop(0), "per_class": {}})


def run(values, stopping: EarlyStopping, max_iters: int = 8) -> Trainer:
    model = TinySegmentor()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), batches(max_iters), max_iters=max_iters,
                      hooks=[Scores(values), stopping], eval_interval=1, progress=False)
    trainer.run()
    return trainer


def test_stops_after_patience_evaluations_without_improvement():
    # best 0.5 at step 2; 0.5, 0.45 are no improvement (min_delta 0.01 makes 0.505 none either)
    trainer = run([0.3, 0.5, 0.505, 0.45, 0.9, 0.9, 0.9, 0.9], EarlyStopping(patience=2, min_delta=0.01))
    assert trainer.iteration == 4 and trainer.stop and not trainer.finished
    trainer = run([0.3, 0.5, 0.4, 0.6, 0.5, 0.7, 0.6, 0.8], EarlyStopping(patience=2))
    assert trainer.iteration == 8 and trainer.finished  # improved every other evaluation: never stops


def test_min_mode_and_resume_state():
    stopping = EarlyStopping(metric="mIoU", mode="min", patience=1)
    assert run([0.5, 0.4, 0.45, 0.1], stopping, max_iters=4).iteration == 3
    again = EarlyStopping(mode="min", patience=1)
    again.load_state_dict(stopping.state_dict())
    assert (again.best, again.bad_evaluations) == (0.4, 1)


@pytest.mark.parametrize("keys, message", [({"mode": "up"}, "trainer.hook.early_stopping.mode must be max or min"),
                                           ({"patience": 0}, "trainer.hook.early_stopping.patience=0 is invalid")])
def test_bad_settings_are_one_line(keys, message):
    with pytest.raises(ConfigError, match=message):
        EarlyStopping(**keys)


def test_yaml_keys_and_overrides_reach_the_constructors(tmp_path):
    cfg = compose_config("train", ["trainer.extra_hooks=[early_stopping]", "trainer.hook.early_stopping.patience=7",
                                   "trainer.logger.jsonl.file=curves.jsonl"])
    [hook] = build_hooks(cfg.trainer.extra_hooks, None, settings(cfg.trainer, "hook"))
    assert (hook.metric, hook.mode, hook.patience, hook.min_delta) == ("mIoU", "max", 7, 0.0)  # the rest: the YAML
    # an entry's own keys win over trainer.hook.<name>
    [hook] = build_hooks([{"name": "early_stopping", "mode": "min"}], None, settings(cfg.trainer, "hook"))
    assert (hook.mode, hook.patience) == ("min", 7)
    group = build_loggers(["jsonl"], tmp_path, settings=settings(cfg.trainer, "logger"))
    group.scalars({"loss": 1.0}, 1)
    group.close()
    assert (tmp_path / "curves.jsonl").is_file() and not (tmp_path / "scalars.jsonl").exists()

# tools/train.py with trainer.extra_hooks=[..., early_stopping] and its keys: tests/engine/test_extension_points.py
