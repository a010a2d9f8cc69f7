"""A :class:`Hook` is called by the training loop before training, before and after every step, and after
training (detectron2's four points, not mmengine's twenty-two).

Writing a hook: subclass :class:`Hook`, override the methods you need, register it with
``@HOOKS.register("<name>")`` in ``segfw/engine/hooks/<name>.py`` (imported automatically) and add
``configs/trainer/hook/<name>.yaml``; a run appends it with ``trainer.extra_hooks=[<name>]`` (or lists it in
``trainer.hooks``, whose default is written in ``configs/trainer/default.yaml``). Its constructor receives
``trainer`` (the run being built) when it takes one, and the keys of its config node as keywords. From
Python, pass instances to :class:`segfw.engine.trainer.Trainer`. Hooks run in list order; ``after_train``
runs in reverse order, also when training stops early (a signal, an error), like a ``finally`` block.

What a hook may read is written in :mod:`segfw.engine.state`: the loop's state (``TrainerState``:
``iteration``, ``losses``, ``lr``, ``is_eval_step``, ``eval_result``, ``model``, ``logger``, ...) and, in a
run built from a config, the run's (``RunState``: ``cfg``, ``t``, ``val_loader``, ``save()``, ...). A hook
with state to resume returns it from :meth:`Hook.state_dict` (tensors and plain values): it is saved in
``last.pt`` and handed back to :meth:`Hook.load_state_dict` on ``resume=true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segfw.engine.state import TrainerState


class Hook:
    """Does nothing at each point; subclasses override what they need."""

    def before_train(self, trainer: TrainerState) -> None:
        pass

    def before_step(self, trainer: TrainerState) -> None:
        pass

    def after_step(self, trainer: TrainerState) -> None:
        pass

    def after_train(self, trainer: TrainerState) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue this hook (empty: nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
