"""The network options: :class:`NetworkConfig`, the one list of what shapes a task-conditioned network.

Every field of :class:`NetworkConfig` after ``num_tasks`` is a *network option*, listed once, here, with
its default and its meaning. Everything else is derived from that list:

* the PSP policies and their features extractor take the options as keyword arguments
  (:func:`takes_network_options` declares them in the constructor's signature, type hints and docstring;
  :func:`pop_network_options` takes them out of ``**kwargs``);
* a policy saves them with the model (:meth:`NetworkConfig.policy_kwargs`, in SB3's
  ``_get_constructor_parameters``), so ``save``/``load`` rebuild the same network;
* the training config accepts them as ``policy_kwargs.<name>`` (:data:`NETWORK_OPTIONS`).

A new option is one new field: its name, default and meaning.

Example::

    >>> cfg = NetworkConfig(num_tasks=3, context="rotation")
    >>> cfg.policy_kwargs()["context"]
    'rotation'
    >>> "drift_context" in NETWORK_OPTIONS
    True
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from dataclasses import KW_ONLY, asdict, dataclass, field
from typing import Any, TypeVar

from torch import nn

from psp_rl.nn.contexts import check_context_kind
from psp_rl.nn.drift import check_drift_context
from psp_rl.nn.modes import _MODES, Mode, SplitComplex
from psp_rl.utils import did_you_mean

__all__ = [
    "NETWORK_OPTIONS",
    "NetworkConfig",
    "network_options_doc",
    "pop_network_options",
    "takes_network_options",
]


def _option(default: Any, meaning: str) -> Any:
    """A network option: a keyword-only field with its default and its meaning (one sentence or more)."""
    return field(default=default, metadata={"meaning": meaning})


@dataclass(frozen=True)
class NetworkConfig:
    """How the layers of a network use the task id: the number of tasks and the network options.

    The options are keyword-only; each one's meaning is listed below (and held by the field, see
    :func:`network_options_doc`).

    :param num_tasks: number of tasks ``K``
    """

    num_tasks: int
    _: KW_ONLY
    mode: str = _option(
        "psp", "a registered mode (:func:`~psp_rl.nn.modes.available_modes`): ``psp`` or a baseline"
    )
    context: str = _option(
        "binary", "context kind of the superposed layers: ``binary``, ``complex`` or ``rotation``"
    )
    context_seed: int = _option(0, "seed of the context keys (and of the input lifting)")
    task_bias: bool = _option(
        True,
        "one bias per task in superposed layers (a shared bias is a path for interference between tasks)",
    )
    width_scaling: bool = _option(
        True,
        "the width rule: a superposed layer of fan-in ``N > base_width`` learns ``base_width / N`` times "
        "slower (a weight multiplier, see :class:`~psp_rl.nn.layers.SuperposedLinear`), so widening a "
        "network never increases the interference between tasks. Adam moves every weight by about the "
        "learning rate, so at a fixed rate a wider layer moves each task's outputs more per step",
    )
    base_width: int = _option(64, "the fan-in up to which superposed layers keep the full learning rate")
    layer_norm: bool | str = _option(
        False,
        "normalise every hidden layer's pre-activations per sample (a parameter-free ``LayerNorm``: "
        "nothing in it is shared between tasks). Superposed weights grow over many optimiser steps, and a "
        "new task sees the old tasks' weights through its key as a random network of that grown scale; "
        "normalised hidden layers keep the new task's starting features and outputs at the scale of a "
        'fresh network. ``"skip_first"`` normalises every hidden layer but the first: on a '
        "low-dimensional observation (CartPole's 4 numbers) normalising the first layer's outputs divides "
        "out the state's magnitude, which the policy needs",
    )
    drift_context: str | None = _option(
        None,
        "keys that follow the observation's continuous ``coord`` entry instead of the task id (``power``, "
        "``geodesic``, ``interpolate``, ``binned``; see :mod:`psp_rl.nn.drift`); ``None``: keys by task id. "
        "Mode ``separate`` takes ``binned``: one independent network per phase bin",
    )
    drift_keys: int = _option(
        8, "``M`` of the drifting context: its frequency range (power, geodesic) or number of anchors"
    )
    coord_input: bool = _option(
        False, "append ``[sin 2πs, cos 2πs]`` of the observation's coordinate ``s`` to the features"
    )
    layer_norm_eps: float = _option(
        1e-5,
        "the LayerNorm's ``eps``, added to each sample's variance over the layer: the default normalises "
        "every scale; a larger one leaves pre-activations of variance well below ``eps`` near their own "
        "scale (a fresh network's) and normalises only grown ones",
    )
    weight_projection: bool = _option(
        False,
        "after every optimiser step, rescale each layer that feeds a LayerNorm to the norm it started "
        "training at (normalize-and-project, :mod:`psp_rl.nn.projection`): the function is unchanged, and "
        "the effective learning rate no longer falls as Adam grows the weights. Needs ``layer_norm``",
    )

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(
                f"Unknown mode {self.mode!r} (policy_kwargs['mode']).{did_you_mean(self.mode, _MODES)}"
            )
        check_context_kind(self.context)
        if self.num_tasks < 1:
            raise ValueError(f"num_tasks must be at least 1, got {self.num_tasks}.")
        if isinstance(self.base_width, bool) or not isinstance(self.base_width, int) or self.base_width < 1:
            raise ValueError(f"base_width must be a positive integer, got {self.base_width!r}.")
        if self.drift_context is not None:
            binned_networks = self.spec.coord_bins and self.drift_context == "binned"
            if not (self.spec.superposed or binned_networks):
                raise ValueError(
                    f"drift_context picks the keys of superposed layers; mode {self.mode!r} has none: use mode "
                    "psp, mode separate with drift_context binned (one network per phase bin), or "
                    "coord_input=True to give a plain network the coordinate as an input."
                )
            check_drift_context(self.drift_context, self.context)
        if self.layer_norm not in (False, True, "skip_first"):
            raise ValueError(
                f"layer_norm must be true, false or 'skip_first' (every hidden layer but the first), "
                f"got {self.layer_norm!r}."
            )
        if isinstance(self.layer_norm_eps, bool) or not (
            isinstance(self.layer_norm_eps, (int, float)) and self.layer_norm_eps > 0
        ):
            raise ValueError(f"layer_norm_eps must be a positive number, got {self.layer_norm_eps!r}.")
        if not isinstance(self.weight_projection, bool):
            raise ValueError(f"weight_projection must be true or false, got {self.weight_projection!r}.")
        if self.weight_projection and not self.layer_norm:
            raise ValueError(
                "weight_projection keeps the norm of the layers that feed a LayerNorm, and this network has "
                "none: set layer_norm: true (or 'skip_first'), or weight_projection: false."
            )
        if self.layer_norm and self.is_complex:
            raise ValueError(
                "layer_norm needs real activations: use context binary or rotation, or layer_norm=False."
            )

    def multiplier(self, fan_in: int) -> float:
        """The weight multiplier of a superposed layer with this fan-in: ``min(1, base_width / fan_in)``
        under the width rule, else 1.

        :param fan_in: the layer's fan-in
        """
        return min(1.0, self.base_width / fan_in) if self.width_scaling else 1.0

    @property
    def spec(self) -> Mode:
        """The registered :class:`~psp_rl.nn.modes.Mode` of this config."""
        return _MODES[self.mode]

    @property
    def is_complex(self) -> bool:
        """Whether hidden activations are complex (superposition with complex keys)."""
        return self.spec.superposed and self.context == "complex"

    def policy_kwargs(self) -> dict[str, Any]:
        """The network options of this config, as the policy keyword arguments that rebuild it
        (``num_tasks`` comes from the observation space)."""
        data = asdict(self)
        del data["num_tasks"]
        return data

    def normalization(self, width: int, first: bool = False) -> nn.Module | None:
        """The per-sample normalisation of a hidden layer of this width (``None`` without ``layer_norm``,
        and for the first layer with ``layer_norm="skip_first"``).

        :param width: the layer's output size
        :param first: the layer is its network's first
        """
        if not self.layer_norm or (first and self.layer_norm == "skip_first"):
            return None
        return nn.LayerNorm(width, eps=float(self.layer_norm_eps), elementwise_affine=False)

    def activation(self, activation_fn: type[nn.Module]) -> nn.Module:
        """A hidden activation: split-complex (:class:`~psp_rl.nn.modes.SplitComplex`) when activations are
        complex.

        :param activation_fn: the real activation class
        """
        return SplitComplex(activation_fn()) if self.is_complex else activation_fn()

    def linear(self, name: str, in_features: int, out_features: int, head: bool = False) -> nn.Module:
        """A linear layer for this mode.

        :param name: the layer's unique name in its policy (seeds its context keys)
        :param in_features: fan-in
        :param out_features: number of outputs
        :param head: whether it is an output layer (per-task in ``multihead``)
        """
        return self.spec.linear(self, name, in_features, out_features, head)

    def conv(
        self, name: str, in_channels: int, out_channels: int, kernel_size: int, stride: int
    ) -> nn.Module:
        """A convolution for this mode (see :meth:`linear`).

        :param name: the layer's unique name in its policy
        :param in_channels: input channels
        :param out_channels: output channels
        :param kernel_size: square kernel size
        :param stride: stride
        """
        return self.spec.conv(self, name, in_channels, out_channels, kernel_size, stride)


def _option_fields() -> tuple[dataclasses.Field, ...]:
    return tuple(f for f in dataclasses.fields(NetworkConfig) if f.name != "num_tasks")


#: the names of the network options, in the order of :class:`NetworkConfig`
NETWORK_OPTIONS: tuple[str, ...] = tuple(f.name for f in _option_fields())


def network_options_doc() -> str:
    """The options as ``:param name: meaning (default ...)`` lines, for docstrings."""
    return "".join(
        f"\n    :param {f.name}: {f.metadata['meaning']} (default ``{f.default!r}``)"
        for f in _option_fields()
    )


NetworkConfig.__doc__ = (NetworkConfig.__doc__ or "").rstrip() + network_options_doc() + "\n"

_Init = TypeVar("_Init", bound=Callable[..., None])


def takes_network_options(init: _Init) -> _Init:
    """Declare the network options as keyword-only arguments of a constructor that takes them in its
    ``**kwargs``: its signature, type hints and docstring then list every option with its default, type
    and meaning (what :func:`inspect.signature`, ``help()`` and the training config's checks read).

    :param init: an ``__init__(self, ..., **kwargs)``
    :raises TypeError: when ``init`` takes no ``**kwargs``
    """
    signature = inspect.signature(init)
    params = list(signature.parameters.values())
    if not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD:
        raise TypeError(f"{init.__qualname__} must take **kwargs to receive the network options.")
    hints = typing.get_type_hints(NetworkConfig)
    options = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
        for f in _option_fields()
    ]
    init.__signature__ = signature.replace(parameters=[*params[:-1], *options, params[-1]])  # type: ignore[attr-defined]
    init.__annotations__ = {**init.__annotations__, **{p.name: p.annotation for p in options}}
    init.__doc__ = (init.__doc__ or "").rstrip() + network_options_doc() + "\n"
    return init


def pop_network_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the network options out of a constructor's keyword arguments.

    :param kwargs: the keyword arguments (changed in place)
    :return: the options given, by name (the others keep :class:`NetworkConfig`'s defaults)
    """
    return {name: kwargs.pop(name) for name in NETWORK_OPTIONS if name in kwargs}
