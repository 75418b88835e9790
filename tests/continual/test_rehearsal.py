"""DQN rehearsal: each finished task's states and Q-values stored at the switch, distilled afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.utils import LinearSchedule

import psp_rl
from psp_rl.continual import PhaseEvents
from psp_rl.continual.rehearsal import Rehearsal, margin_loss
from psp_rl.continual.replay import ReplayReset
from psp_rl.continual.schedules import restart_per_phase
from psp_rl.training import resolve_config, train


def run_dqn(
    coef: float = 1.0, when: str = "interleaved", learning_rate: str = "constant", target: str = "outputs"
) -> tuple[DQN, Rehearsal]:
    suite = psp_rl.load_suite("cartpole-permuted", num_tasks=2, steps_per_task=1000)
    schedule = suite.make_schedule()
    rate = LinearSchedule(1e-3, 0.0, 1.0) if learning_rate == "lin" else 1e-4
    model = DQN(
        psp_rl.PSPDQNPolicy,
        suite.make_vec_env(n_envs=1, seed=0),
        learning_starts=50,
        buffer_size=5000,
        train_freq=16,
        gradient_steps=4,
        seed=0,
        learning_rate=rate,
        policy_kwargs=dict(net_arch=[16]),
    )
    if learning_rate == "lin":
        restart_per_phase(model, ["learning_rate"], schedule.phase_boundaries())
    rehearsal = Rehearsal(
        schedule,
        "dqn",
        coef,
        target=target,
        states_per_task=300,
        batch_size=32,
        seed=0,
        when=when,
        consolidation_steps=40,
    )
    events = PhaseEvents(schedule, {"rehearsal": rehearsal, "replay": ReplayReset(schedule)})
    model.learn(schedule.total_timesteps, callback=events)
    return model, rehearsal


@pytest.fixture(scope="module")
def trained() -> tuple[DQN, Rehearsal]:
    return run_dqn()


def test_the_finished_tasks_states_are_stored_before_the_buffer_is_emptied(trained) -> None:
    model, rehearsal = trained
    # every phase end stores its task (the last one at the run's end)
    assert list(rehearsal.memory) == [0, 1] and rehearsal.stored == 2
    obs, q_values = rehearsal.memory[0]
    assert q_values.shape == (300, 2) and obs["obs"].shape == (300, 4)
    assert torch.all(obs["task"] == 0)  # only task 0's states, taken before the reset emptied the buffer
    assert torch.all(rehearsal.memory[1][0]["task"] == 1)
    assert set(ReplayReset.buffer_tasks(model).tolist()) == {1}
    # distillation ran after every TD burst of the second phase: 4 steps per burst
    assert rehearsal.updates > 0 and rehearsal.updates % 4 == 0


def test_phase_end_consolidates_every_stored_task_at_each_phase_end(monkeypatch: pytest.MonkeyPatch) -> None:
    rates: list[float] = []
    original = torch.optim.Adam.step

    def step(self: torch.optim.Adam, *args: object, **kwargs: object) -> object:
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    model, rehearsal = run_dqn(when="phase_end", learning_rate="lin")
    assert list(rehearsal.memory) == [0, 1]
    assert rehearsal.updates == 2 * 40  # two phase ends, no interleaved steps
    # the consolidation runs at the phase's starting rate, not at the decayed rate of its end
    assert rates.count(pytest.approx(1e-3)) >= 2 * 40
    assert model.policy.optimizer.param_groups[0]["lr"] < 1e-4  # and the decayed rate is back
    with pytest.raises(ValueError, match="Unknown rehearsal.when 'always'"):
        Rehearsal(psp_rl.make_schedule("sequential", 2, steps_per_task=10), "dqn", 1.0, when="always")
    with pytest.raises(ValueError, match="rehearsal.when"):
        resolve_config("dqn-psp", sets=["rehearsal.when=sometimes"])


def test_both_interleaves_and_consolidates_at_each_phase_end() -> None:
    _, interleaved = run_dqn(target="actions")
    _, both = run_dqn(when="both", target="actions")
    assert list(both.memory) == [0, 1]
    # the same interleaved steps after every TD burst of the second phase, plus 40 at each of two phase ends
    assert both.updates == interleaved.updates + 2 * 40 and interleaved.updates > 0


def test_distillation_pulls_an_old_task_back_to_its_stored_q_values(trained) -> None:
    model, rehearsal = trained
    obs, targets = rehearsal.memory[0]

    def error() -> float:
        with torch.no_grad():
            return float((model.q_net(obs) - targets).abs().mean())

    with torch.no_grad():  # interference: every weight moved
        for param in model.q_net.parameters():
            param.add_(0.05 * torch.randn_like(param))
    before = error()
    model.gradient_steps = 50  # one "burst" of 50 distillation steps
    rehearsal._on_rollout_end()
    assert error() < 0.5 * before


def test_the_margin_loss_is_zero_where_the_stored_action_leads_by_the_margin() -> None:
    stored = torch.tensor([[1.0, 0.9, 0.0], [0.0, 5.0, 4.0]])  # greedy actions 0 and 1
    held = torch.tensor([[10.0, 9.0, 8.0], [0.0, 3.0, 2.0]])  # each leads by exactly 1
    assert margin_loss(held, stored, 1.0).item() == 0.0
    q_values = torch.tensor([[10.0, 10.5, 0.0], [0.0, 3.0, 2.5]], requires_grad=True)
    # row 0: max(10, 11.5, 1) - 10 = 1.5; row 1: max(1, 3, 3.5) - 3 = 0.5
    loss = margin_loss(q_values, stored, 1.0)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    grad = q_values.grad
    assert grad is not None  # down on the best competing action, up on the stored one, per violated row
    assert torch.equal(grad, torch.tensor([[-0.5, 0.5, 0.0], [0.0, -0.5, 0.5]]))
    assert margin_loss(held, stored, 1.5).item() == pytest.approx(0.5)


def test_the_actions_target_brings_the_stored_greedy_actions_back(trained) -> None:
    model, rehearsal = trained
    obs, targets = rehearsal.memory[0]
    held = Rehearsal(rehearsal.schedule, "dqn", 1.0, target="actions", margin=0.5, batch_size=32)
    held.init_callback(model)
    held.memory, held.num_timesteps = {0: (obs, targets)}, rehearsal.num_timesteps  # task 1's phase

    def agreement() -> float:
        with torch.no_grad():
            return float((model.q_net(obs).argmax(1) == targets.argmax(1)).float().mean())

    torch.manual_seed(0)
    with torch.no_grad():
        for param in model.q_net.parameters():
            param.add_(0.3 * torch.randn_like(param))
    before = agreement()
    assert before < 0.9
    model.gradient_steps = 1000
    held._on_rollout_end()
    assert agreement() > max(0.95, before)


def test_ratio_sets_the_distillation_steps_per_gradient_step(trained) -> None:
    model, rehearsal = trained
    fewer = Rehearsal(rehearsal.schedule, "dqn", 1.0, ratio=0.25, batch_size=32)
    fewer.init_callback(model)
    fewer.memory, fewer.num_timesteps = dict(rehearsal.memory), rehearsal.num_timesteps
    model.gradient_steps = 8
    fewer._on_rollout_end()
    assert fewer.updates == 2  # a quarter of the burst's 8 gradient steps
    model.gradient_steps = 1
    fewer._on_rollout_end()
    assert fewer.updates == 3  # at least one
    with pytest.raises(ValueError, match="rehearsal.ratio must be a number > 0"):
        Rehearsal(rehearsal.schedule, "dqn", 1.0, ratio=0.0)


def test_off_does_nothing_and_state_round_trips() -> None:
    schedule = psp_rl.make_schedule("sequential", 3, steps_per_task=10)
    assert not Rehearsal.enabled(Rehearsal.settings(Rehearsal.merged({"coef": 0.0})), "dqn")
    callback = Rehearsal(schedule, "dqn", 1.0)
    obs = {"obs": torch.randn(5, 4), "task": torch.zeros(5, 1)}
    callback.memory = {0: (obs, torch.randn(5, 2))}
    callback.stored, callback.updates = 1, 12
    copy = Rehearsal(schedule, "dqn", 1.0)
    copy.load_state_dict(callback.state_dict())
    assert (copy.stored, copy.updates) == (1, 12)
    assert torch.equal(copy.memory[0][0]["obs"], obs["obs"]) and torch.equal(
        copy.memory[0][1], callback.memory[0][1]
    )


@pytest.mark.parametrize(
    ("preset", "override", "message"),
    [
        ("ppo-psp", "rehearsal.coef=1.0", "rehearsal is implemented for dqn, sac, td3, not ppo"),
        ("dqn-psp", "rehearsal.coeff=1.0", "Unknown rehearsal key 'coeff'. Did you mean 'coef'"),
        ("dqn-psp", "rehearsal.coef=-1", "rehearsal.coef must be a number >= 0"),
        ("dqn-psp", "rehearsal.target=action", "Unknown rehearsal.target 'action'. Did you mean 'actions'"),
        (
            "sac-psp",
            "rehearsal.target=actions",
            "rehearsal.target=actions is for dqn, not sac: use rehearsal.target=outputs",
        ),
        ("dqn-psp", "rehearsal.ratio=-0.5", "rehearsal.ratio must be a number > 0"),
        ("dqn-psp", "rehearsal.margin=0", "rehearsal.margin must be a number > 0"),
        ("dqn-psp", "rehearsal.batch_size=0", "rehearsal.batch_size must be an integer >= 1"),
    ],
)
def test_config_checks(preset: str, override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config(preset, sets=[override])


def test_the_callback_checks_its_arguments() -> None:
    schedule = psp_rl.make_schedule("sequential", 2, steps_per_task=10)
    with pytest.raises(ValueError, match="rehearsal.target=actions is for dqn, not td3"):
        Rehearsal(schedule, "td3", 1.0, target="actions")
    with pytest.raises(ValueError, match="rehearsal.margin must be a number > 0"):
        Rehearsal(schedule, "dqn", 1.0, target="actions", margin=-1.0)


def test_train_checkpoints_and_resumes_the_memory(tmp_path: Path) -> None:
    cfg = resolve_config(
        "dqn-psp",
        "cartpole-permuted",
        num_tasks=2,
        steps_per_task=1000,
        run_dir=str(tmp_path),
        sets=[
            "hyperparams.learning_starts=50",
            "hyperparams.buffer_size=5000",
            "policy_kwargs.net_arch=[8]",
            "hyperparams.train_freq=16",
            "hyperparams.gradient_steps=4",
            "eval.episodes=1",
            "rehearsal.coef=1.0",
            "rehearsal.states_per_task=200",
        ],
    )
    result = train(cfg, progress_bar=False, verbose=0)
    first, last = sorted((result.run_path / "checkpoints").glob("step_*"))
    saved = torch.load(last / "rehearsal.pt", weights_only=True)
    assert saved["q.0"].shape == (200, 2) and int(saved["stored"]) == 2 and int(saved["updates"]) > 0
    # the checkpoint at the first phase end already holds task 0's states (stored at the switch)
    at_switch = torch.load(first / "rehearsal.pt", weights_only=True)
    assert torch.equal(at_switch["q.0"], saved["q.0"]) and int(at_switch["updates"]) == 0
    # resuming from the phase-end checkpoint restores the memory instead of storing it again
    import shutil

    shutil.rmtree(last)
    resumed = train(cfg, resume=result.run_path, progress_bar=False, verbose=0)
    again = torch.load(
        sorted((resumed.run_path / "checkpoints").glob("step_*"))[-1] / "rehearsal.pt", weights_only=True
    )
    assert torch.equal(again["q.0"], saved["q.0"]) and int(again["stored"]) == 2


class StoreOnly(Rehearsal):
    """The control: the same callback, storing the finished task's states and outputs, without distilling."""

    def _distil(self, tasks: list[int], steps: int, lr: float | None = None) -> None:
        self.updates += int(steps)


def run_offpolicy(algo: str, distil: bool) -> tuple[Any, Rehearsal]:
    from stable_baselines3 import SAC, TD3

    suite = psp_rl.load_suite("pendulum-permuted", num_tasks=2, steps_per_task=300)
    schedule = suite.make_schedule()
    algo_cls, policy = {"sac": (SAC, psp_rl.PSPSACPolicy), "td3": (TD3, psp_rl.PSPTD3Policy)}[algo]
    model = algo_cls(
        policy,
        suite.make_vec_env(n_envs=1, seed=0),
        learning_starts=50,
        buffer_size=2000,
        learning_rate=3e-4,
        seed=0,
        policy_kwargs=dict(net_arch=[16]),
    )
    rehearsal = (Rehearsal if distil else StoreOnly)(
        schedule, algo, 1.0, states_per_task=100, batch_size=32, seed=0
    )
    events = PhaseEvents(schedule, {"rehearsal": rehearsal, "replay": ReplayReset(schedule)})
    model.learn(schedule.total_timesteps, callback=events)
    return model, rehearsal


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_the_actor_of_sac_and_td3_is_pulled_back(algo: str) -> None:
    model, rehearsal = run_offpolicy(algo, distil=True)
    obs, targets = rehearsal.memory[0]
    assert targets.shape == (100, 2 if algo == "sac" else 1) and rehearsal.updates > 0
    outputs = rehearsal.outputs

    def error(trained: Any = model) -> float:
        with torch.no_grad():
            return float((outputs(trained, obs) - targets).abs().mean())

    # the same run without the distillation steps moves task 0's actor away from where the switch left it
    # (measured: SAC 0.043, TD3 0.51 without; 0.005 and 0.005 with)
    control, stored = run_offpolicy(algo, distil=False)
    assert torch.equal(stored.memory[0][1], targets)  # the same run up to the switch
    without = error(control)
    assert error() < 0.02 and error() < 0.25 * without, (error(), without)
    with torch.no_grad():
        for param in model.actor.parameters():
            param.add_(0.1 * torch.randn_like(param))
    before = error()
    model.gradient_steps = 200
    rehearsal._on_rollout_end()
    assert error() < 0.5 * before
