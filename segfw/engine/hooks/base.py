"""A :class:`Hook` is called by the training loop before training, before and after every step, and after
training (detectron2's four points, not mmengine's twenty-two).

Writing a hook: subclass :class:`Hook`, override the methods you need, and add an instance to
``trainer.hooks`` (``engine.trainer.default_hooks`` lists a run's hooks). Hooks run in list order;
``after_train`` runs in reverse order, also when training stops early (a signal, an error), like a
``finally`` block. Everything a hook may read is on the trainer:

- ``trainer.iteration``: steps done (``after_step`` sees the step just finished, 1-based);
- ``trainer.losses``: the step's named losses and their sum ``loss`` (floats, averaged over ranks);
- ``trainer.lr``: the first parameter group's learning rate after the step;
- ``trainer.is_eval_step``: whether this step is an evaluation step (``trainer.eval_interval``, or the last);
- ``trainer.eval_result``: the latest :class:`~segfw.engine.evaluator.EvalResult` of the trained weights;
- ``trainer.finished`` (in ``after_train``): whether the loop reached ``trainer.max_iters``;
- ``trainer.model`` (the plain segmentor, never the DDP wrapper), ``trainer.optimizer``, ``trainer.cfg``,
  ``trainer.t`` (``cfg.trainer``), ``trainer.device``, ``trainer.classes``, ``trainer.val_set`` and
  ``trainer.val_loader``, ``trainer.run_dir``, ``trainer.ckpt_dir``, ``trainer.logger`` (TensorBoard; a
  no-op off rank 0), ``trainer.main`` (rank 0).

A hook may call ``trainer.save()`` (``last.pt``), ``trainer.model_record()`` (what rebuilds a model) and
``trainer.say(text)`` (print on rank 0). A hook with state to resume returns it from :meth:`Hook.state_dict`
(tensors and plain values): it is saved in ``last.pt`` and handed back to :meth:`Hook.load_state_dict`
on ``resume=true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segfw.engine.trainer import Trainer


class Hook:
    """Does nothing at each point; subclasses override what they need."""

    def before_train(self, trainer: Trainer) -> None:
        pass

    def before_step(self, trainer: Trainer) -> None:
        pass

    def after_step(self, trainer: Trainer) -> None:
        pass

    def after_train(self, trainer: Trainer) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue this hook (empty: nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
