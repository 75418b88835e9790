"""DQN with a choice of TD target: SB3's own, advantage learning, or value rescaling (``hyperparams.td_target``).

Under superposition a DQN variant's greedy policy is lost when another variant's training changes the lead of
its greedy action over the runner-up by more than that lead, and on CartPole the leads are small against the
Q-values (``benchmarks/dqn_interference.py`` measures both). Two targets act on that ratio:

- ``advantage_learning`` (Baird 1999; Bellemare et al., "Increasing the action gap", AAAI 2016): the target
  ``r + γ max_a' Q'(s', a') - α (max_b Q'(s, b) - Q'(s, a))`` keeps the greedy policy of the Bellman optimum
  and widens every suboptimal action's gap by about ``1 / (1 - α)`` (``gap_alpha``);
- ``rescaled`` (Pohlen et al., 2018, as in R2D2): ``h(r + γ h⁻¹(max_a' Q'(s', a')))`` with
  ``h(x) = sign(x)(√(|x| + 1) - 1) + εx`` (``rescale_eps``): the network stores compressed values.

``standard`` (the default) is SB3's ``DQN.train`` itself, untouched. The class is what ``psp-rl train`` builds
and loads for ``algo: dqn``; its extra keys are constructor arguments saved with the model, so a resumed or
evaluated run trains and acts as the interrupted one did.

Example::

    model = DQN(PSPDQNPolicy, env, td_target="advantage_learning", gap_alpha=0.9)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3 import DQN as SB3DQN

__all__ = ["DQN", "TD_TARGETS", "rescale", "rescale_inverse"]

#: the choices of ``td_target``
TD_TARGETS: tuple[str, ...] = ("standard", "advantage_learning", "rescaled")


def rescale(x: th.Tensor, eps: float) -> th.Tensor:
    """``h(x) = sign(x)(√(|x| + 1) - 1) + εx``.

    :param x: values.
    :param eps: ``ε``.
    """
    return th.sign(x) * (th.sqrt(x.abs() + 1.0) - 1.0) + eps * x


def rescale_inverse(x: th.Tensor, eps: float) -> th.Tensor:
    """``h⁻¹``, the inverse of :func:`rescale` (Pohlen et al., 2018, proposition A.2).

    :param x: rescaled values.
    :param eps: ``ε`` (> 0).
    """
    root = th.sqrt(1.0 + 4.0 * eps * (x.abs() + 1.0 + eps))
    return th.sign(x) * (((root - 1.0) / (2.0 * eps)) ** 2 - 1.0)


class DQN(SB3DQN):
    """SB3's DQN with the TD target of ``td_target``.

    :param args: SB3 DQN's positional arguments.
    :param td_target: ``standard``, ``advantage_learning`` or ``rescaled``.
    :param gap_alpha: ``α`` of advantage learning, in ``[0, 1)``.
    :param rescale_eps: ``ε`` of the value rescaling, > 0.
    :param kwargs: SB3 DQN's keyword arguments.
    :raises ValueError: an unknown target, ``gap_alpha`` outside ``[0, 1)`` or ``rescale_eps <= 0``.
    """

    def __init__(
        self,
        *args: Any,
        td_target: str = "standard",
        gap_alpha: float = 0.9,
        rescale_eps: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        if td_target not in TD_TARGETS:
            raise ValueError(
                f"hyperparams.td_target must be one of {', '.join(TD_TARGETS)}, got {td_target!r}."
            )
        if not 0.0 <= float(gap_alpha) < 1.0:
            raise ValueError(
                f"hyperparams.gap_alpha must be in [0, 1) (advantage learning's α), got {gap_alpha}."
            )
        if not float(rescale_eps) > 0.0:
            raise ValueError(
                f"hyperparams.rescale_eps must be > 0 (the value rescaling's ε), got {rescale_eps}."
            )
        self.td_target, self.gap_alpha, self.rescale_eps = td_target, float(gap_alpha), float(rescale_eps)
        super().__init__(*args, **kwargs)

    def target_values(self, replay_data: Any, discounts: Any) -> th.Tensor:
        """The TD targets of a replay batch, ``(batch, 1)``.

        :param replay_data: the sampled transitions.
        :param discounts: ``γ`` (or the n-step discounts).
        """
        with th.no_grad():
            next_q = self.q_net_target(replay_data.next_observations).max(dim=1).values.reshape(-1, 1)
            if self.td_target == "rescaled":
                next_q = rescale_inverse(next_q, self.rescale_eps)
            target = replay_data.rewards + (1 - replay_data.dones) * discounts * next_q
            if self.td_target == "rescaled":
                return rescale(target, self.rescale_eps)
            if self.td_target == "advantage_learning":
                q_here = self.q_net_target(replay_data.observations)
                taken = th.gather(q_here, dim=1, index=replay_data.actions.long())
                target = target - self.gap_alpha * (q_here.max(dim=1, keepdim=True).values - taken)
            return target

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3's training step; with another target, the same loop on :meth:`target_values`.

        :param gradient_steps: gradient steps of this call.
        :param batch_size: transitions per step.
        """
        if self.td_target == "standard":
            super().train(gradient_steps, batch_size)
            return
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            target = self.target_values(replay_data, discounts)
            current = th.gather(self.q_net(replay_data.observations), dim=1, index=replay_data.actions.long())
            loss = F.smooth_l1_loss(current, target)
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", np.mean(losses))
