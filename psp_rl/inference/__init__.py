"""Task inference: act with a trained PSP model without being told the task.

- :mod:`~psp_rl.inference.heads` -- what inference reads from each algorithm (entropy under mixed
  task weights, per-task entropies and TD errors);
- :mod:`~psp_rl.inference.infer` -- one-shot inference from the entropy gradient (and its halving
  variant), score-based inference from the critic's TD error;
- :mod:`~psp_rl.inference.dynamics` -- per-task models of one env step (:class:`TaskDynamics`), the
  dynamics method's scores;
- :mod:`~psp_rl.inference.detect` -- switch detection (Page-Hinkley) and new-variant references;
- :mod:`~psp_rl.inference.agent` -- :func:`infer_task`, a drop-in agent for plain SB3 code;
- :mod:`~psp_rl.inference.rollout` -- returns, accuracy and detection delays of an agent on a VecEnv.

Dependencies: nn <- policies <- inference <- training <- cli.
"""

from psp_rl.inference.agent import METHODS, SWITCHES, TRANSITION_METHODS, InferenceAgent, infer_task
from psp_rl.inference.detect import PageHinkley, SwitchDetector, TaskReference
from psp_rl.inference.dynamics import TaskDynamics
from psp_rl.inference.heads import ALGORITHMS, TaskHeads
from psp_rl.inference.infer import ITERATIVE_FROM, Inference, entropy_gradient, infer_entropy, infer_score
from psp_rl.inference.rollout import InferenceRollout, rollout_inferred

__all__ = [
    "ALGORITHMS",
    "ITERATIVE_FROM",
    "METHODS",
    "SWITCHES",
    "TRANSITION_METHODS",
    "Inference",
    "InferenceAgent",
    "InferenceRollout",
    "PageHinkley",
    "SwitchDetector",
    "TaskDynamics",
    "TaskHeads",
    "TaskReference",
    "entropy_gradient",
    "infer_entropy",
    "infer_score",
    "infer_task",
    "rollout_inferred",
]
