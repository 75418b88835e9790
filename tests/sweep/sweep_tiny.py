"""The tiny training config of the sweep tests: a few hundred steps, a net of 8 units, 1 episode per
evaluation (a module of its own, so that test files import it by a name no other folder uses)."""

from __future__ import annotations

#: overrides of every tiny run: 2 envs x 32 steps per rollout, 1 evaluation episode per task
TINY_SETS = [
    "policy_kwargs.net_arch=[8]",
    "hyperparams.n_steps=32",
    "hyperparams.batch_size=64",
    "hyperparams.n_epochs=1",
    "eval.episodes=1",
    "n_envs=2",
    "device=cpu",
]
#: steps per task of a tiny run (2 tasks: 2 phases, a checkpoint at the end of each)
TINY_STEPS = 256
