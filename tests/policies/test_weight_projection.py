"""``weight_projection`` in the five algorithms: every optimiser step leaves the scale-free layers at their
recorded norm, and saved models keep projecting after loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from psp_rl.nn.networks import TaskStack
from psp_rl.nn.projection import ProjectNormsHook
from tests.policies.test_policies import ALGOS, make_model, mixed_observations


def _hooked_optimizers(model: BaseAlgorithm) -> list[torch.optim.Optimizer]:
    optimizers = {id(m.optimizer): m.optimizer for m in model.policy.modules() if hasattr(m, "optimizer")}
    return [
        o
        for o in optimizers.values()
        if any(isinstance(h, ProjectNormsHook) for h in o._optimizer_step_post_hooks.values())
    ]


def _trained_norms(model: BaseAlgorithm) -> list[tuple[float, float]]:
    """(norm, target) of every projected layer of the stacks the optimisers train (target networks are not
    trained: they follow their online network by copies and polyak steps)."""
    hooks = [h for o in _hooked_optimizers(model) for h in o._optimizer_step_post_hooks.values()]
    stacks: list[TaskStack] = list({id(s): s for hook in hooks for s in hook.stacks}.values())
    out = []
    for stack in stacks:
        assert stack.norm_projection is not None
        for (_, layer), target in zip(stack.projected_layers(), stack.norm_projection.targets):
            norm = torch.sqrt(sum(p.detach().pow(2).sum() for p in layer.parameters()))
            out.append((float(norm), float(target)))
    return out


def _model(name: str, projection: bool = True, seed: int = 0) -> BaseAlgorithm:
    model = make_model(name, seed=seed)
    kwargs = {**model.policy_kwargs, "layer_norm": True, "weight_projection": projection}
    algo, policy, _, hyper = ALGOS[name]
    return algo(policy, model.env, policy_kwargs=kwargs, seed=seed, **hyper)


@pytest.mark.parametrize("name", list(ALGOS))
def test_every_optimiser_step_keeps_the_recorded_norms(name: str) -> None:
    model = _model(name)
    expected = {"ppo": 1, "a2c": 1, "dqn": 1, "sac": 2, "td3": 2}[name]  # SAC / TD3: actor and critic
    assert len(_hooked_optimizers(model)) == expected
    model.learn(200)
    norms = _trained_norms(model)
    assert norms
    for norm, target in norms:
        assert target > 0 and norm == pytest.approx(target, rel=1e-4)
    # without the option nothing is hooked and no stack keeps targets
    free = _model(name, projection=False)
    assert _hooked_optimizers(free) == []
    assert not any(isinstance(m, TaskStack) and m.norm_projection is not None for m in free.policy.modules())


@pytest.mark.parametrize("name", ["dqn", "sac", "ppo"])
def test_a_loaded_model_acts_identically_and_keeps_projecting(name: str, tmp_path: Path) -> None:
    model = _model(name)
    model.learn(200)
    obs = mixed_observations(ALGOS[name][2])
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model.zip")
    loaded = type(model).load(tmp_path / "model.zip", env=model.env, device="cpu")
    assert loaded.policy.network_config.weight_projection
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    for key, value in model.policy.state_dict().items():
        assert torch.equal(loaded.policy.state_dict()[key], value), key
    assert len(_hooked_optimizers(loaded)) == len(_hooked_optimizers(model))
    targets = [target for _, target in _trained_norms(loaded)]
    loaded.learn(200)
    after = _trained_norms(loaded)
    assert [target for _, target in after] == targets  # the saved targets, not new ones
    for norm, target in after:
        assert norm == pytest.approx(target, rel=1e-4)
