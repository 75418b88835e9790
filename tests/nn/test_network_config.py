"""NetworkConfig: one list of network options, built by keyword, handed on as keyword arguments."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import pytest

from psp_rl.nn.config import (
    NETWORK_OPTIONS,
    NetworkConfig,
    network_options_doc,
    pop_network_options,
    takes_network_options,
)


def test_the_options_are_the_fields_after_num_tasks_each_with_a_meaning() -> None:
    fields = dataclasses.fields(NetworkConfig)
    assert [f.name for f in fields] == ["num_tasks", *NETWORK_OPTIONS]
    assert {"drift_context", "drift_keys", "coord_input", "mode", "context"} <= set(NETWORK_OPTIONS)
    for f in fields[1:]:
        assert f.kw_only and f.metadata["meaning"], f.name
        assert f":param {f.name}:" in network_options_doc() and f":param {f.name}:" in (
            NetworkConfig.__doc__ or ""
        )
    assert list(NetworkConfig(num_tasks=2).policy_kwargs()) == list(NETWORK_OPTIONS)


def test_options_are_given_by_keyword_only() -> None:
    with pytest.raises(TypeError):
        NetworkConfig(2, "shared")  # type: ignore[misc]
    config = NetworkConfig(2, mode="shared", context_seed=3)
    assert NetworkConfig(2, **config.policy_kwargs()) == config


class _Built:
    @takes_network_options
    def __init__(self, size: int, *args: Any, extra: int = 1, **kwargs: Any) -> None:
        """Build.

        :param size: a size
        """
        self.config = NetworkConfig(2, **pop_network_options(kwargs))
        self.rest = kwargs


def test_a_constructor_declares_every_option_in_its_signature_hints_and_docstring() -> None:
    params = inspect.signature(_Built.__init__).parameters
    assert list(params)[:4] == ["self", "size", "args", "extra"] and list(params)[-1] == "kwargs"
    hints = typing.get_type_hints(_Built.__init__)
    for f in dataclasses.fields(NetworkConfig)[1:]:
        assert params[f.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[f.name].default == f.default
        assert hints[f.name] == typing.get_type_hints(NetworkConfig)[f.name]
        assert f":param {f.name}:" in (_Built.__init__.__doc__ or "")
    built = _Built(4, context="rotation", drift_keys=3, other=1)
    assert (built.config.context, built.config.drift_keys, built.rest) == ("rotation", 3, {"other": 1})


def test_a_constructor_without_kwargs_cannot_take_the_options() -> None:
    def init(self: object, size: int) -> None: ...

    with pytest.raises(TypeError, match="must take \\*\\*kwargs"):
        takes_network_options(init)


def test_the_config_is_still_importable_from_its_old_modules() -> None:
    from psp_rl.nn import modes, networks

    assert modes.NetworkConfig is NetworkConfig and networks.NetworkConfig is NetworkConfig
