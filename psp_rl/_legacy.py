"""Old module paths keep importing: ``psp_rl.layers`` and friends moved into the package's rooms.

Code (and pickled objects) that name a module of the flat layout of psp_rl 0.1 (``psp_rl.wrappers``,
``psp_rl.networks``, ``psp_rl.config``...) get the module that holds those names now, with a
``DeprecationWarning`` naming the new path. The policy classes that SB3 pickles into ``model.zip`` kept their
modules; the per-phase schedules a trained model holds (``PhaseSchedule``) are found here at their new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

#: old module -> the module that now holds its public names
MOVED: dict[str, str] = {
    "psp_rl.contexts": "psp_rl.nn.contexts",
    "psp_rl.layers": "psp_rl.nn.layers",
    "psp_rl.networks": "psp_rl.nn.networks",
    "psp_rl.wrappers": "psp_rl.envs",
    "psp_rl.suites": "psp_rl.envs.suites",
    "psp_rl.schedules": "psp_rl.envs.schedules",
    "psp_rl.config": "psp_rl.training.config",
    "psp_rl.train": "psp_rl.training",
    "psp_rl.callbacks": "psp_rl.training",
    "psp_rl.ewc": "psp_rl.continual.ewc",
    # the continual mechanisms and the evaluation left training/ (pickled PhaseSchedule objects in saved
    # models name psp_rl.training.phase_schedules)
    "psp_rl.training.phase_schedules": "psp_rl.continual.schedules",
    "psp_rl.training.keep_best": "psp_rl.continual.keep_best",
    "psp_rl.training.rehearsal": "psp_rl.continual.rehearsal",
    "psp_rl.training.ewc": "psp_rl.continual.ewc",
    "psp_rl.training.replay": "psp_rl.continual.replay",
    "psp_rl.training.optimizer_reset": "psp_rl.continual.optimizer",
    "psp_rl.training.schedule_callback": "psp_rl.continual.tasks",
    "psp_rl.training.eval_callback": "psp_rl.evaluation.callback",
    "psp_rl.training.evaluation": "psp_rl.training.saved_runs",
    "psp_rl.training.drift": "psp_rl.envs.drift_clocks",
    "psp_rl.training.types": "psp_rl.training.config.types",
    "psp_rl.training.validation": "psp_rl.training.config.validation",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved: import from {self.target} instead.", DeprecationWarning, stacklevel=2
        )
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        pass


class _MovedModules(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(MOVED[fullname]))


def install() -> None:
    """Let the old module paths import (idempotent)."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
