"""Context keys: kinds, determinism, and the paper's retrieval property."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
import torch

from psp_rl.nn.contexts import (
    CONTEXT_KINDS,
    context_kind,
    expected_retrieval_error,
    layer_id,
    make_context,
    retrieval_error,
    superpose,
)


def test_binary_keys_are_signs() -> None:
    keys = make_context("binary", num_tasks=4, dim=1000, seed=3, layer_index=1)
    assert keys.shape == (4, 1000) and keys.dtype == torch.float32
    assert set(torch.unique(keys).tolist()) == {-1.0, 1.0}
    assert abs(keys.mean().item()) < 0.1  # fair signs


def test_complex_keys_are_unit_phases_in_half_open_interval() -> None:
    keys = make_context("complex", num_tasks=3, dim=5000, seed=0, layer_index=2)
    assert keys.dtype == torch.complex64
    torch.testing.assert_close(keys.abs(), torch.ones(3, 5000))
    phase = keys.angle()
    assert phase.min() > -math.pi - 1e-6 and phase.max() <= math.pi + 1e-6
    # uniform: mean of cos and sin near 0
    assert abs(keys.real.mean().item()) < 0.05 and abs(keys.imag.mean().item()) < 0.05


def test_rotation_keys_are_orthogonal_and_haar() -> None:
    keys = make_context("rotation", num_tasks=20, dim=16, seed=0, layer_index=0)
    assert keys.shape == (20, 16, 16)
    eye = torch.eye(16).expand(20, 16, 16)
    torch.testing.assert_close(keys @ keys.transpose(1, 2), eye, atol=1e-5, rtol=0)
    dets = torch.linalg.det(keys.double())
    assert (dets > 0).any() and (dets < 0).any()  # both components of O(N), as Haar measure gives


@pytest.mark.parametrize("kind", CONTEXT_KINDS)
def test_keys_are_deterministic_per_seed_layer_and_task(kind: str) -> None:
    a = make_context(kind, 3, 8, seed=1, layer_index=layer_id("pi/0"))
    b = make_context(kind, 3, 8, seed=1, layer_index=layer_id("pi/0"))
    assert torch.equal(a, b)
    assert not torch.equal(a, make_context(kind, 3, 8, seed=2, layer_index=layer_id("pi/0")))
    assert not torch.equal(a, make_context(kind, 3, 8, seed=1, layer_index=layer_id("pi/1")))
    assert not torch.equal(a[0], a[1])
    # A key depends on its task only, not on K: growing K keeps the earlier keys.
    assert torch.equal(make_context(kind, 5, 8, seed=1, layer_index=layer_id("pi/0"))[:3], a)


def test_bad_kind_and_seed_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="binary, complex, rotation"):
        make_context("ternary", 2, 4)
    with pytest.raises(ValueError, match="non-negative"):
        make_context("binary", 2, 4, seed=-1)


@pytest.mark.parametrize("kind", CONTEXT_KINDS)
def test_retrieval_error_matches_sqrt_k_minus_1_over_n(kind: str) -> None:
    torch.manual_seed(0)
    measured = {}
    small, large = (64, 256) if kind == "rotation" else (128, 512)  # rotation keys cost N² each
    for dim in (small, large):
        for num_tasks in (2, 8, 32):
            keys = make_context(kind, num_tasks, dim, seed=0, layer_index=7)
            weights = torch.randn(num_tasks, 32, dim)
            w = superpose(weights, keys, kind)
            err = np.mean([retrieval_error(w, weights[j], keys[j], kind) for j in range(num_tasks)])
            expected = expected_retrieval_error(num_tasks, dim)
            assert err == pytest.approx(expected, rel=0.35), (dim, num_tasks, err, expected)
            measured[dim, num_tasks] = err
    for dim in (small, large):  # grows with K
        assert measured[dim, 2] < measured[dim, 8] < measured[dim, 32]
    for num_tasks in (2, 8, 32):  # shrinks with N
        assert measured[large, num_tasks] < measured[small, num_tasks]


def test_single_task_retrieval_is_exact() -> None:
    keys = make_context("rotation", 1, 32, seed=0, layer_index=0)
    weights = torch.randn(1, 8, 32)
    assert retrieval_error(superpose(weights, keys, "rotation"), weights[0], keys[0], "rotation") < 1e-5


@pytest.mark.parametrize("name", CONTEXT_KINDS)
def test_a_kind_binds_folds_and_mixes_alike(name: str) -> None:
    """Binding a key to the inputs equals folding it into the weight; per-sample keys equal one key per
    sample; mixing with a one-hot weight gives the task's own key."""
    torch.manual_seed(0)
    kind = context_kind(name)
    keys = make_context(name, 3, 6, seed=1, layer_index=2)
    weight = torch.randn(4, 6, dtype=kind.weight_dtype)
    x, task = torch.randn(5, 6), torch.tensor([2, 0, 1, 2, 0])
    for k in range(3):
        bound = torch.nn.functional.linear(kind.bind(x, keys[k]).to(weight.dtype), weight)
        folded = torch.nn.functional.linear(x.to(weight.dtype), kind.fold(weight, keys[k]))
        torch.testing.assert_close(bound, folded)
        assert torch.equal(kind.mix(torch.eye(3)[k].to(keys.dtype), keys), keys[k])
    each = torch.stack([kind.bind(x[b], keys[task[b]]) for b in range(5)])
    torch.testing.assert_close(kind.bind_tasks(x, keys, task), each)
    torch.testing.assert_close(kind.bind_each(x, keys.index_select(0, task)), each)
    alpha = torch.softmax(torch.randn(5, 3), 1).to(keys.dtype)
    rows = torch.stack([kind.mix(alpha[b], keys) for b in range(5)])
    torch.testing.assert_close(kind.mix(alpha, keys), rows)


def test_kinds_are_one_object_each_and_unknown_names_are_refused() -> None:
    kind = context_kind("rotation")
    assert copy.deepcopy(kind) is kind and pickle.loads(pickle.dumps(kind)) is kind
    assert [context_kind(name).name for name in CONTEXT_KINDS] == list(CONTEXT_KINDS)
    with pytest.raises(ValueError, match="binary, complex, rotation"):
        context_kind("ternary")
