"""The phase-event dispatcher: one SB3 callback that owns the task schedule, finds each phase start and
end once, and calls the continual mechanisms, the evaluation and the checkpoints in one fixed order.

At a phase end the order is :data:`ORDER`:

1. ``keep_best`` -- the phase ends on its best-scoring weights, so everything after sees them;
2. ``rehearsal`` -- stores the finished task's states and what the (kept) network outputs for them;
3. ``ewc`` -- consolidates the finished task (anchors and Fisher of the kept weights);
4. ``evaluation`` -- the performance matrix's row of this phase end;
5. ``replay`` -- the replay buffer is emptied for the next task (once every sub-env runs it);
6. ``optimizer`` -- the optimizers' moments are cleared for the next task;
7. ``restart_schedules`` -- the per-phase schedules (they follow the step counter by themselves);
8. ``checkpoint`` -- written last, so it holds everything the phase end did.

Every step, each member first gets the events due at that step, then its own ``on_step``, member by
member in that order. Members that are not in :data:`ORDER` (a user's own
:class:`~psp_rl.phases.PhaseCallback`) act after ``restart_schedules``, before ``checkpoint``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from psp_rl.continual.mechanism import Mechanism
from psp_rl.continual.tasks import TaskScheduleCallback
from psp_rl.envs.schedules import TaskSchedule
from psp_rl.phases import PhaseCallback, PhaseClock

__all__ = ["ORDER", "PhaseEvents"]

#: the order in which the members act at each phase event and each step
ORDER: tuple[str, ...] = (
    "keep_best",
    "rehearsal",
    "ewc",
    "evaluation",
    "replay",
    "optimizer",
    "restart_schedules",
    "checkpoint",
)


def _ordered(members: Mapping[str, PhaseCallback]) -> dict[str, PhaseCallback]:
    rank = {name: i for i, name in enumerate(ORDER)}
    others = len(ORDER) - 1  # before the checkpoint
    names = sorted(members, key=lambda n: (rank.get(n, others - 0.5), list(members).index(n)))
    return {name: members[name] for name in names}


class PhaseEvents(TaskScheduleCallback):
    """Drive the training VecEnv's tasks from a schedule and give every member its phase events.

    :param schedule: the run's task schedule.
    :param members: the callbacks that act on phase events, by name (the names of :data:`ORDER`
        place them; the continual mechanisms use their preset section's name).
    :param verbose: 1 prints each task switch request.
    """

    def __init__(
        self, schedule: TaskSchedule, members: Mapping[str, PhaseCallback], verbose: int = 0
    ) -> None:
        super().__init__(schedule, verbose)
        for name, member in members.items():
            if not isinstance(member, PhaseCallback):
                raise TypeError(
                    f"member {name!r} is a {type(member).__name__}, not a PhaseCallback: pass plain SB3 "
                    "callbacks to learn() beside the dispatcher (CallbackList([events, yours]))."
                )
            member.driven = True
        self.members = _ordered(members)
        self.clock = PhaseClock(schedule.phase_boundaries())
        self._clock_loaded = False

    # ---- what it holds
    def __getitem__(self, name: str) -> PhaseCallback:
        return self.members[name]

    def __contains__(self, name: object) -> bool:
        return name in self.members

    @property
    def mechanisms(self) -> dict[str, Mechanism]:
        """The members that are continual mechanisms, by preset section."""
        return {n: m for n, m in self.members.items() if isinstance(m, Mechanism)}

    def interaction(self) -> dict[str, int]:
        """:return: the env steps each mechanism took beyond the training steps (validation episodes...),
        by section, for the mechanisms that took any."""
        steps = {name: m.interaction() for name, m in self.mechanisms.items()}
        return {name: n for name, n in steps.items() if n > 0}

    # ---- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """:return: the schedule's position and the phase events given so far (JSON)."""
        return {**super().state_dict(), "phases": self.clock.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """:param state: what :meth:`state_dict` returned (a state without ``phases``, from an earlier
        release, places the clock at the run's step when training starts)."""
        super().load_state_dict(state)
        if "phases" in state:
            self.clock.load_state_dict(state["phases"])
            self._clock_loaded = True

    def json_states(self) -> dict[str, Any]:
        """:return: the mechanisms whose state goes into ``state.json``, by section."""
        return {n: m for n, m in self.mechanisms.items() if m.STATE_FILE is None}

    def tensor_states(self) -> dict[str, Any]:
        """:return: the mechanisms whose state is a tensor file, by file stem."""
        return {Path(m.STATE_FILE).stem: m for m in self.mechanisms.values() if m.STATE_FILE is not None}

    def load_checkpoint(self, folder: str | Path, state: Mapping[str, Any]) -> None:
        """Restore every mechanism's state from a checkpoint folder.

        :param folder: the checkpoint folder (``checkpoints/step_<n>``).
        :param state: its ``state.json``, read.
        """
        import torch

        saved = state.get("callbacks", {})
        for name, member in self.json_states().items():
            if name in saved:
                member.load_state_dict(saved[name])
        for stem, member in self.tensor_states().items():
            path = Path(folder) / f"{stem}.pt"
            if path.is_file():
                member.load_state_dict(torch.load(path, weights_only=True))

    # ---- SB3 hooks, forwarded to the members
    def _init_callback(self) -> None:
        super()._init_callback()
        for member in self.members.values():
            member.init_callback(self.model)

    def _on_training_start(self) -> None:
        super()._on_training_start()
        if not self._clock_loaded:  # a fresh run, or a checkpoint of an earlier release
            self.clock.skip_to(self.num_timesteps)
            self._clock_loaded = True
        for member in self.members.values():
            member.on_training_start(self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        for member in self.members.values():
            member.on_rollout_start()

    def _on_step(self) -> bool:
        super()._on_step()  # the next episodes' tasks
        events = self.clock.due(self.num_timesteps)
        go_on = True
        for member in self.members.values():
            member.num_timesteps = self.num_timesteps  # as on_step sets it, for the events before it
            for event in events:
                member.handle(event)
            go_on = member.on_step() and go_on
        return go_on

    def _on_rollout_end(self) -> None:
        for member in self.members.values():
            member.on_rollout_end()

    def _on_training_end(self) -> None:
        for member in self.members.values():
            member.on_training_end()

    def update_child_locals(self, locals_: dict[str, Any]) -> None:  # noqa: D102
        for member in self.members.values():
            member.update_locals(locals_)
