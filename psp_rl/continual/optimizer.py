"""What happens to the optimizers' running state when the task changes (preset key ``optimizer.at_switch``).

Adam and RMSprop scale every step by running averages of the gradients seen so far. At a task switch
those averages describe the *old* task's end of training; clearing them lets each variant start with
fresh moments, as Continual World does (``reset_optimizer_on_task_change``). Whether that helps
depends on the optimizer: RMSprop (SB3's A2C default) has no bias correction, so from cleared moments
its first steps are about ten times the learning rate. Measured with ``a2c-psp`` on cartpole-permuted
(K = 5, 200k steps per variant, ``lin_1.4e-3`` restarted per phase, RMSprop eps 1e-5, seeds 4 and 1): average performance
0.594 and 0.620 with ``reset`` against 0.804 and 0.984 with ``keep`` -- new variants' policies
collapsed to one action.

- ``keep`` (default, SB3's behaviour): the optimizers carry their state across task switches.
- ``reset`` (as Continual World's ``reset_optimizer_on_task_change``): the state of every optimizer of
  the model (the policy's; SAC / TD3's actor and critic optimizers; SAC's entropy-coefficient
  optimizer) is cleared once every sub-env runs the new phase's task, so each variant starts with fresh
  moments. Waiting for the last old-task episode to end matters for per-task parameters (``separate``,
  per-task biases): they get exactly zero gradient from another task, but Adam's moments keep moving
  them; cleared after the finished task's last gradient (off-policy: with the replay buffer, emptied at
  the same step), they stay bit-identical. PPO's and A2C's rollout at that step may still hold a few
  old-task steps.

The optimizers' state is saved by SB3 in ``model.zip``, so a resumed run continues with the same moments.
Preset section::

    optimizer: {at_switch: keep}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from psp_rl.checks import check_choice
from psp_rl.continual.mechanism import Mechanism, Setup, register
from psp_rl.envs.schedules import TaskSchedule
from psp_rl.policies.common import module_optimizers

__all__ = ["OPTIMIZER_AT_SWITCH", "OptimizerReset", "OptimizerSettings", "model_optimizers"]

#: the choices of ``optimizer.at_switch``
OPTIMIZER_AT_SWITCH: tuple[str, ...] = ("keep", "reset")


def model_optimizers(model: Any) -> list[torch.optim.Optimizer]:
    """Every torch optimizer of an SB3 model: the ``optimizer`` of its policy and of each sub-network
    (actor, critic), and SAC's ``ent_coef_optimizer``.

    :param model: an SB3 algorithm.
    :return: the optimizers, each once.
    """
    return module_optimizers(model.policy, getattr(model, "ent_coef_optimizer", None))


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
    """The ``optimizer`` section.

    :param at_switch: ``keep`` (SB3's behaviour) or ``reset`` (the moments cleared at a task switch).
    """

    at_switch: str = "keep"


@register
class OptimizerReset(Mechanism):
    """Clear the state of every optimizer of the model at each task switch (``at_switch="reset"``).

    :param schedule: the run's task schedule (only ``sequential`` schedules switch tasks).
    :param verbose: 1 prints a line per reset.
    """

    NAME = "optimizer"
    Settings = OptimizerSettings

    @classmethod
    def check_settings(cls, settings: OptimizerSettings, algo: str) -> None:  # noqa: D102
        check_choice("optimizer.at_switch", settings.at_switch, OPTIMIZER_AT_SWITCH)

    @classmethod
    def enabled(cls, settings: OptimizerSettings, algo: str) -> bool:  # noqa: D102
        return settings.at_switch == "reset"

    @classmethod
    def from_settings(cls, settings: OptimizerSettings, setup: Setup) -> OptimizerReset:  # noqa: D102
        return cls(setup.schedule)

    def __init__(self, schedule: TaskSchedule, verbose: int = 0) -> None:
        super().__init__(schedule.phase_boundaries(), verbose)
        self.schedule = schedule
        self.pending: list[int] = []  # phases begun whose reset waits for every sub-env to run their task
        self.resets = 0

    def state_dict(self) -> dict[str, Any]:  # noqa: D102
        return {"pending": list(self.pending), "resets": self.resets}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:  # noqa: D102
        self.pending = [int(p) for p in state.get("pending", [])]
        self.resets = int(state.get("resets", 0))

    def on_phase_start(self, phase: int) -> None:
        """Clear every optimizer's state for ``phase`` once every sub-env runs its task.

        :param phase: the phase that begins.
        """
        if self.schedule.is_sequential:
            self.pending.append(phase)

    def _on_step(self) -> bool:
        while self.pending and self.sub_envs_run(self.schedule.phase_task(self.pending[0])):
            self.clear(self.pending.pop(0))
        return True

    def clear(self, phase: int) -> None:
        """Clear the state of every optimizer of the model now.

        :param phase: the phase it is cleared for.
        """
        self.resets += 1
        optimizers = model_optimizers(self.model)
        for optimizer in optimizers:
            optimizer.state.clear()
        if self.verbose >= 1:
            print(
                f"step {self.num_timesteps}: state of {len(optimizers)} optimizer(s) cleared for phase {phase}"
            )
