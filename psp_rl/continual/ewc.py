"""Elastic weight consolidation (EWC; Kirkpatrick et al., PNAS 2017) for PPO / A2C, as an SB3 callback.

The baseline runs on a ``shared`` network (one set of weights, the task id ignored) and adds the penalty

    L_EWC(θ) = λ/2 · Σ_t Σ_i F_t,i (θ_i − θ*_t,i)²

summed over every consolidated task ``t`` (**one anchor per task**, not online EWC): ``θ*_t`` are the
weights at the end of task ``t``'s phase and ``F_t`` the diagonal Fisher information estimated there.
Its gradient ``λ Σ_t F_t (θ − θ*_t) = λ F (θ − θ̄)`` needs two tensors per parameter, ``F = Σ_t F_t`` and
the Fisher-weighted mean anchor ``θ̄ = Σ_t F_t θ*_t / F``, so memory does not grow with the number of
tasks (the form ``F (θ − θ̄)`` also avoids the cancellation of ``F θ − Σ_t F_t θ*_t`` in float32).

No change to SB3's ``train()`` loops: a gradient hook on every policy parameter adds ``λ (F θ − b)`` to the
gradient each time a loss backpropagates through it, which is exactly the gradient of ``loss + L_EWC``
(before gradient clipping, as if the penalty were part of the loss).

The Fisher of a finished task is estimated from that task's own samples in the last rollouts: for each
observation ``s``, an action ``a ~ π(·|s)`` is sampled and ``(∂ log π(a|s)/∂θ)²`` accumulated. Per-sample
gradients: a loop of ``torch.autograd.grad`` w.r.t. hook-free detached copies of the weights, swapped in
with ``torch.func.functional_call``, so the penalty hooks never touch the Fisher. (``torch.func.vmap``
fails here: SB3's one-hot task preprocessing and the task layers' id check are data-dependent.)

By default only the actor is consolidated (every parameter except the value network's): what an old
task keeps is its policy, and the critic must be free to fit the new task's returns or the new task
cannot be learnt. ``critic=True`` also consolidates the value network, with ``(∂V(s)/∂θ)²`` (the Fisher
of a unit-variance Gaussian value head). On CartPole that term is 100-1000 times the policy's (values
of 10-70), so any λ that protects the policy freezes the critic and the next task is never learnt.

Sampling uses a forked RNG, so consolidating leaves the training's random stream untouched: with
``λ = 0`` a run is bit-for-bit the ``shared`` run of the same seed.

Preset section (``lambda: 0`` turns it off, the default; PPO and A2C)::

    ewc: {lambda: 100, fisher_samples: 512, critic: false}

In your own SB3 code: ``model.learn(n, callback=psp_rl.continual.callbacks(schedule, algo="ppo",
ewc={"lambda": 100}))``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from psp_rl.checks import check_int, check_number
from psp_rl.continual.fisher import diagonal_fisher
from psp_rl.continual.mechanism import Mechanism, Setup, register
from psp_rl.metrics import check_phase_tasks
from psp_rl.policies.expand import fit_grown

__all__ = ["EWC", "EWCSettings"]


@dataclasses.dataclass(frozen=True)
class EWCSettings:
    """The ``ewc`` section (PPO, A2C).

    :param strength: the preset key ``lambda``: the penalty's strength (0: off).
    :param fisher_samples: observations per Fisher estimate.
    :param critic: also consolidate the value network.
    """

    strength: float = dataclasses.field(default=0.0, metadata={"key": "lambda"})
    fisher_samples: int = 512
    critic: bool = False


@register
class EWC(Mechanism):
    """Consolidate the policy at the end of every task phase and penalise moving away from the anchors.

    Works with PPO and A2C (any :class:`~stable_baselines3.common.policies.ActorCriticPolicy`, with
    dict or plain observations). A phase end arrives at the first step past its boundary (no update can
    happen mid-rollout, so the anchor is the phase's final policy, after ``keep_best``); the checkpoint
    of that step holds its anchor. The last phase is not consolidated: nothing trains after it.
    Logs ``ewc/penalty`` (the current value of ``L_EWC``) and ``ewc/tasks`` (anchors held).

    :param ewc_lambda: penalty strength ``λ`` (``0`` gives exactly the unregularised run).
    :param fisher_samples: observations of the finished task used to estimate its Fisher (the most
        recent ones from the rollouts).
    :param schedule: a :class:`~psp_rl.envs.TaskSchedule` (gives the phase boundaries and tasks).
    :param phase_boundaries: the env steps at which phases end, instead of ``schedule``.
    :param phase_tasks: the task of each phase (``None``: several) when ``phase_boundaries`` is given;
        samples of that task estimate its Fisher (all samples for a multi-task phase).
    :param seed: seed of the action sampling inside the Fisher estimate.
    :param critic: also consolidate the value network (default: the actor only).
    :param verbose: 1 prints a line per consolidation.
    """

    NAME = "ewc"
    Settings = EWCSettings
    STATE_FILE = "ewc.pt"
    #: the algorithms it supports
    ALGOS: tuple[str, ...] = ("ppo", "a2c")

    @classmethod
    def check_settings(cls, settings: EWCSettings, algo: str) -> None:  # noqa: D102
        check_number("ewc.lambda", settings.strength, 0, "0 turns EWC off")
        check_int("ewc.fisher_samples", settings.fisher_samples, 1)
        if not isinstance(settings.critic, bool):
            raise ValueError(f"ewc.critic must be true or false, got {settings.critic!r}.")
        if settings.strength > 0 and algo not in cls.ALGOS:
            raise ValueError(
                f"EWC is implemented for ppo and a2c, not {algo}: set ewc.lambda=0 or algo ppo/a2c."
            )

    @classmethod
    def enabled(cls, settings: EWCSettings, algo: str) -> bool:  # noqa: D102
        return settings.strength > 0

    @classmethod
    def from_settings(cls, settings: EWCSettings, setup: Setup) -> EWC:  # noqa: D102
        return cls(
            settings.strength,
            fisher_samples=settings.fisher_samples,
            schedule=setup.schedule,
            seed=setup.seed,
            critic=settings.critic,
        )

    #: parameters used only by the critic (SB3 ``ActorCriticPolicy`` names)
    CRITIC_PREFIXES: tuple[str, ...] = ("mlp_extractor.value_net.", "value_net.", "vf_features_extractor.")

    def __init__(
        self,
        ewc_lambda: float,
        fisher_samples: int = 512,
        schedule: Any = None,
        *,
        phase_boundaries: Sequence[int] | None = None,
        phase_tasks: Sequence[int | None] | None = None,
        seed: int = 0,
        critic: bool = False,
        verbose: int = 0,
    ) -> None:
        if not isinstance(ewc_lambda, (int, float)) or isinstance(ewc_lambda, bool) or ewc_lambda < 0:
            raise ValueError(f"ewc_lambda must be a number >= 0, got {ewc_lambda!r}.")
        if isinstance(fisher_samples, bool) or not isinstance(fisher_samples, int) or fisher_samples < 1:
            raise ValueError(f"fisher_samples must be an integer >= 1, got {fisher_samples!r}.")
        if (schedule is None) == (phase_boundaries is None):
            raise ValueError(
                "EWC needs exactly one of schedule= (a TaskSchedule) or phase_boundaries= "
                "(the env steps at which task phases end)."
            )
        if schedule is not None:
            phase_boundaries = schedule.phase_boundaries()
            phase_tasks = [schedule.phase_task(i) for i in range(len(phase_boundaries))]
        super().__init__(phase_boundaries, verbose)
        self.ewc_lambda = float(ewc_lambda)
        self.fisher_samples = int(fisher_samples)
        self.phase_boundaries = [int(b) for b in (phase_boundaries or ())]
        self.phase_tasks = check_phase_tasks(self.phase_boundaries, phase_tasks)
        self.seed = int(seed)
        self.critic = bool(critic)
        self.next_phase = 0
        self.num_consolidated = 0
        self.names: list[str] = []
        self.params: list[torch.nn.Parameter] = []
        self.fisher: list[torch.Tensor] | None = None  # F = Σ_t F_t
        self.anchor_mean: list[torch.Tensor] | None = None  # θ̄ = Σ_t F_t θ*_t / F (θ*_last where F = 0)
        self.residual = 0.0  # the penalty's constant part Σ_t Σ_i F_t,i (θ*_t,i − θ̄_i)², at its minimum
        self.last_anchor: list[torch.Tensor] | None = None  # θ* of the latest consolidation
        self.last_fisher: list[torch.Tensor] | None = None  # F of the latest consolidation
        self._hooks: list[Any] = []
        self._stash: dict[str, np.ndarray] | np.ndarray | None = None
        self._pending_state: Mapping[str, Any] | None = None

    # ------------------------------------------------------------------ setup
    def _init_callback(self) -> None:
        policy = self.model.policy
        if not isinstance(policy, ActorCriticPolicy) or not hasattr(self.model, "rollout_buffer"):
            raise ValueError(
                f"EWC supports PPO and A2C (an ActorCriticPolicy with a rollout buffer), got "
                f"{type(self.model).__name__} with {type(policy).__name__}: use algo ppo or a2c."
            )
        if self._hooks:  # learn() called again on the same model: the hooks are in place
            return
        named = [
            (n, p)
            for n, p in policy.named_parameters()
            if p.requires_grad and (self.critic or not n.startswith(self.CRITIC_PREFIXES))
        ]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        for param in self.params:
            self._hooks.append(param.register_hook(self._make_hook(param)))
        if self._pending_state is not None:
            self._apply_state(self._pending_state)
            self._pending_state = None

    def _make_hook(self, param: torch.nn.Parameter) -> Any:
        index = len(self._hooks)

        def hook(grad: torch.Tensor) -> torch.Tensor | None:
            if self.fisher is None or self.anchor_mean is None:
                return None
            penalty_grad = self.fisher[index] * (param.detach() - self.anchor_mean[index])
            return grad + self.ewc_lambda * penalty_grad

        return hook

    def remove_hooks(self) -> None:
        """Detach the gradient hooks from the policy (the penalty stops applying)."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    # ------------------------------------------------------------------ penalty
    def penalty(self) -> float:
        """:return: the current value of ``λ/2 Σ_t Σ_i F_t,i (θ_i − θ*_t,i)²`` (0 before any anchor)."""
        if self.fisher is None or self.anchor_mean is None:
            return 0.0
        with torch.no_grad():
            total = self.residual
            for param, f, mean in zip(self.params, self.fisher, self.anchor_mean):
                total += float((f.double() * (param.detach().double() - mean.double()) ** 2).sum())
        return 0.5 * self.ewc_lambda * total

    # ------------------------------------------------------------------ data
    def _rollout_observations(self, upto: int | None = None) -> dict[str, np.ndarray] | np.ndarray:
        """The rollout buffer's observations (its first ``upto`` steps), flattened over the envs."""
        buffer: Any = getattr(self.model, "rollout_buffer")  # noqa: B009 (PPO/A2C only, checked at init)
        n = buffer.buffer_size if upto is None else upto
        observations = buffer.observations
        if isinstance(observations, dict):
            return {k: v[:n].reshape(-1, *v.shape[2:]).copy() for k, v in observations.items()}
        return observations[:n].reshape(-1, *observations.shape[2:]).copy()

    @staticmethod
    def _concat(
        a: dict[str, np.ndarray] | np.ndarray | None, b: dict[str, np.ndarray] | np.ndarray, keep: int
    ) -> dict[str, np.ndarray] | np.ndarray:
        if a is None:
            return {k: v[-keep:] for k, v in b.items()} if isinstance(b, dict) else b[-keep:]
        if isinstance(b, dict):
            a_dict = cast(dict[str, np.ndarray], a)  # the stash has the shape of the observations
            return {k: np.concatenate([a_dict[k], v])[-keep:] for k, v in b.items()}
        return np.concatenate([cast(np.ndarray, a), b])[-keep:]

    def _add_to_stash(self, obs: dict[str, np.ndarray] | np.ndarray) -> None:
        self._stash = self._concat(self._stash, obs, 4 * self.fisher_samples)

    def _samples_of(
        self, task: int | None, stash: dict[str, np.ndarray] | np.ndarray | None = None
    ) -> dict[str, np.ndarray] | np.ndarray | None:
        stash = self._stash if stash is None else stash
        if stash is None:
            return None
        if isinstance(stash, dict):
            mask = np.ones(len(next(iter(stash.values()))), dtype=bool)
            if task is not None and "task" in stash:
                mask = stash["task"].reshape(len(mask), -1)[:, 0].astype(np.int64) == task
            idx = np.flatnonzero(mask)[-self.fisher_samples :]
            return {k: v[idx] for k, v in stash.items()} if idx.size else None
        return stash[-self.fisher_samples :] if len(stash) else None

    # ------------------------------------------------------------------ consolidation
    def estimate_fisher(self, observations: dict[str, np.ndarray] | np.ndarray) -> list[torch.Tensor]:
        """Diagonal Fisher of the current policy on buffer-format observations
        (:func:`~psp_rl.continual.fisher.diagonal_fisher`, sampling seeded from ``seed`` and the phase).

        :param observations: observations as stored in a rollout buffer (dict of arrays, or an array).
        :return: one tensor per consolidated parameter (shapes of the parameters).
        """
        return diagonal_fisher(
            cast(ActorCriticPolicy, self.model.policy),
            dict(zip(self.names, self.params)),
            observations,
            critic=self.critic,
            seed=self.seed * 100_003 + self.next_phase,
        )

    def consolidate(self, task: int | None = None) -> None:
        """Anchor the current weights with the Fisher estimated on ``task``'s recent samples (the
        finished rollouts, plus the part of the current one collected so far).

        :param task: the finished task (``None``: all recent samples).
        :raises RuntimeError: when no sample of ``task`` has been seen in the recent rollouts.
        """
        stash = self._stash
        buffer = getattr(self.model, "rollout_buffer", None) if self.model is not None else None
        if buffer is not None and getattr(buffer, "pos", 0) > 0 and not buffer.full:
            stash = self._concat(stash, self._rollout_observations(buffer.pos), 4 * self.fisher_samples)
        samples = self._samples_of(task, stash)
        if samples is None:
            raise RuntimeError(
                f"EWC: no recent sample of task {task} to estimate its Fisher; the phase may be shorter "
                "than one rollout (raise steps_per_task or lower n_steps)."
            )
        fisher = self.estimate_fisher(samples)
        if not all(bool(torch.isfinite(f).all()) for f in fisher):
            raise RuntimeError(
                "EWC: the Fisher estimate is not finite (the policy or value outputs diverged); "
                "lower ewc_lambda or the learning rate."
            )
        with torch.no_grad():
            anchor = [p.detach().clone() for p in self.params]
            if self.fisher is None or self.anchor_mean is None:
                self.fisher = [torch.zeros_like(p) for p in self.params]
                self.anchor_mean = [a.clone() for a in anchor]
            for i, (f_old, mean_old, f, a) in enumerate(zip(self.fisher, self.anchor_mean, fisher, anchor)):
                # merge two quadratics: F_old (θ − m_old)² + f (θ − a)² = F_new (θ − m_new)² + residual
                f_new = f_old + f
                safe = torch.where(f_new > 0, f_new, torch.ones_like(f_new))
                mean_new = torch.where(f_new > 0, (f_old * mean_old + f * a) / safe, a)
                self.residual += float(
                    (f_old.double() * (mean_old.double() - mean_new.double()) ** 2).sum()
                    + (f.double() * (a.double() - mean_new.double()) ** 2).sum()
                )
                self.fisher[i] = f_new
                self.anchor_mean[i] = mean_new
        self.last_anchor = anchor
        self.last_fisher = fisher
        self.num_consolidated += 1
        if self.verbose >= 1:
            print(f"EWC: Fisher of task {task}: max {max(float(f.max()) for f in fisher):.3g}")

    # ------------------------------------------------------------------ SB3 events
    def on_phase_end(self, phase: int, last: bool) -> None:
        """Consolidate the task of the phase that ended (not the last one: nothing trains after it).

        :param phase: the phase that ended.
        :param last: it is the run's last phase.
        """
        if not last:
            task = self.phase_tasks[phase]
            self.consolidate(task)
            if self.verbose >= 1:
                print(f"EWC: consolidated phase {phase} (task {task}) at step {self.num_timesteps}")
        self.next_phase = phase + 1

    def _on_rollout_end(self) -> None:
        self._add_to_stash(self._rollout_observations())
        self.logger.record("ewc/penalty", self.penalty())
        self.logger.record("ewc/tasks", self.num_consolidated)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The anchors, the Fisher sums and the position, as torch tensors (``torch.save``-able).

        :return: ``{"fisher.<param>": ..., "anchor_mean.<param>": ..., "last_anchor.<param>": ...,
            "last_fisher.<param>": ..., "residual", "num_consolidated", "next_phase", "ewc_lambda"}``.
        """
        state: dict[str, Any] = {
            "residual": torch.tensor(self.residual, dtype=torch.float64),
            "num_consolidated": torch.tensor(self.num_consolidated),
            "next_phase": torch.tensor(self.next_phase),
            "ewc_lambda": torch.tensor(self.ewc_lambda, dtype=torch.float64),
        }
        for prefix, tensors in (
            ("fisher", self.fisher),
            ("anchor_mean", self.anchor_mean),
            ("last_anchor", self.last_anchor),
            ("last_fisher", self.last_fisher),
        ):
            if tensors is not None:
                for name, t in zip(self.names, tensors):
                    state[f"{prefix}.{name}"] = t.detach().cpu().clone()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (applied when the callback is attached to its
        model if that has not happened yet). ``ewc_lambda`` stays the one given to the constructor.

        :param state: the saved state.
        """
        if self.params:
            self._apply_state(state)
        else:
            self._pending_state = dict(state)

    def _apply_state(self, state: Mapping[str, Any]) -> None:
        def collect(prefix: str) -> list[torch.Tensor] | None:
            keys = [f"{prefix}.{name}" for name in self.names]
            present = [k in state for k in keys]
            if not any(present):
                return None
            if not all(present):
                missing = keys[present.index(False)]
                raise ValueError(f"EWC state lacks {missing!r}: it was saved from a different policy.")
            return [torch.as_tensor(state[k]).to(p.device, p.dtype) for k, p in zip(keys, self.params)]

        for prefix in ("fisher", "anchor_mean", "last_anchor", "last_fisher"):
            tensors = collect(prefix)
            if tensors is not None:
                tensors = [  # saved before the policy grew: the added tasks' entries filled in
                    fit_grown(t, p, self.model.policy, f"EWC {prefix}.{name}", anchor="anchor" in prefix)
                    for t, p, name in zip(tensors, self.params, self.names)
                ]
            setattr(self, prefix, tensors)
        self.residual = float(state["residual"])
        self.num_consolidated = int(state["num_consolidated"])
        self.next_phase = int(state["next_phase"])

    def save(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` with ``torch.save`` (e.g. ``checkpoints/step_<n>/ewc.pt``).

        :param path: output file.
        :return: the path written.
        """
        path = Path(path)
        torch.save(self.state_dict(), path)
        return path

    def load(self, path: str | Path) -> None:
        """Read a file written by :meth:`save` into this callback.

        :param path: the file.
        """
        self.load_state_dict(torch.load(Path(path), map_location="cpu", weights_only=True))
