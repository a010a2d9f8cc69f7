"""Evaluation of the trained weights at every evaluation step: console table, TensorBoard ``val/*``,
image panels and figures. :func:`evaluate_weights` scores any weights the same way (the EMA hook uses it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from segfw.distance_metrics import format_distance_table
from segfw.engine import distributed as dist_utils
from segfw.engine.evaluator import EvalResult, evaluate
from segfw.engine.figures import confusion_figure, iou_bar_figure
from segfw.engine.hooks.base import Hook
from segfw.metrics import format_table
from segfw.registry import HOOKS

if TYPE_CHECKING:
    from segfw.engine.state import RunState


def evaluate_weights(trainer: RunState, model: nn.Module, num_samples: int = 0) -> EvalResult:
    """``model`` scored on the trainer's validation split with the run's test protocol (every rank takes
    part; rank 0's buffers first, so all ranks score the weights rank 0 saves)."""
    dist_utils.broadcast_buffers(model)
    return evaluate(model, trainer.val_loader, trainer.classes, trainer.device, trainer.cfg.test, trainer.amp_dtype,
                    num_samples=num_samples)


@HOOKS.register("evaluate")
class Evaluate(Hook):
    """Sets ``trainer.eval_result`` at every evaluation step (and once before training when a resumed run
    has no step left), and shows it: the table on the console, ``val/*`` curves, panels and figures."""

    def before_train(self, trainer: RunState) -> None:
        if trainer.iteration >= trainer.max_iters:
            self.evaluate(trainer)

    def after_step(self, trainer: RunState) -> None:
        if trainer.is_eval_step:
            self.evaluate(trainer)

    def evaluate(self, trainer: RunState) -> None:
        result = evaluate_weights(trainer, trainer.model, trainer.t.num_vis_images)
        trainer.eval_result = result
        trainer.say(f"\niteration {trainer.iteration}: evaluation on {len(trainer.val_set)} images\n"
                    f"{format_table(result.summary)}\n{format_distance_table(result.summary)}".rstrip())
        logger, step, palette = trainer.logger, trainer.iteration, trainer.val_set.palette
        logger.evaluation(result.summary, step)
        if result.samples and palette is not None:
            images, masks, preds = zip(*result.samples)
            logger.panels("val/images", images, masks, preds, palette, step)
        if trainer.main:  # the figures are drawn on rank 0 only
            logger.figure("val/confusion_matrix", confusion_figure(result.confusion, trainer.classes), step)
            logger.figure("val/per_class_IoU", iou_bar_figure(result.summary), step)
