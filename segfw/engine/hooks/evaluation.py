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
from segfw.errors import USER_ERRORS, one_line
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


def kept_training(trainer: RunState, error: Exception) -> Exception:
    """After an evaluation failed with ``error``: ``last.pt`` saved (the steps since the last checkpoint are kept,
    and the run folder with them), and the error to raise; a user's mistake says where the weights are and
    how to continue once it is fixed."""
    try:
        trainer.save()
    except Exception:  # noqa: BLE001 - the evaluation's error is the one to report
        return error
    note = (f"the training up to iteration {trainer.iteration} is saved in {trainer.ckpt_dir / 'last.pt'}; fix "
            f"this and continue with: {trainer.resume_command()}")
    if isinstance(error, USER_ERRORS):
        return type(error)(f"{one_line(error)}; {note}")
    trainer.say(f"evaluation failed: {note}")
    return error


@HOOKS.register("evaluate")
class Evaluate(Hook):
    """Sets ``trainer.eval_result`` at every evaluation step (and once before training when a resumed run
    has no step left), and shows it: the table on the console, ``val/*`` curves, panels and figures."""

    def before_train(self, trainer: RunState) -> None:
        if trainer.iteration >= trainer.max_iters:
            self.evaluate(trainer)

    def after_step(self, trainer: RunState) -> None:
        if trainer.is_eval_step:
            try:
                self.evaluate(trainer)
            except Exception as error:
                raise kept_training(trainer, error) from None

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
