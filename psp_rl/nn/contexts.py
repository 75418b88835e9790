"""Context keys for Parameter Superposition, and helpers to measure retrieval noise.

A context key ``c_k`` binds one task ``k`` to a layer: the layer computes ``W (c_k ⊙ x)`` (or
``W C_k x`` for rotations). Keys are generated deterministically from ``(seed, layer index, task id)``
so a key never depends on how many tasks exist: growing K keeps every earlier key.

The three kinds of Cheung et al. (2019):

* ``binary``   -- ``c_k ∈ {-1, +1}^N``, i.i.d. fair signs (pspBinary, the default);
* ``complex``  -- ``c_k = exp(iφ)``, ``φ ~ U(-π, π]`` (pspComplex; used with complex weights);
* ``rotation`` -- ``C_k`` a Haar-random orthogonal ``N × N`` matrix (pspRotation).

Example::

    >>> keys = make_context("binary", num_tasks=3, dim=8, seed=0, layer_index=0)
    >>> keys.shape
    torch.Size([3, 8])
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch

CONTEXT_KINDS: tuple[str, ...] = ("binary", "complex", "rotation")


def check_context_kind(kind: str) -> str:
    """Return ``kind`` if it names a context kind, else raise a ``ValueError`` listing the kinds.

    :param kind: the context kind to check
    """
    if kind not in CONTEXT_KINDS:
        raise ValueError(
            f"Unknown context kind {kind!r}: use one of {', '.join(CONTEXT_KINDS)} "
            "(policy_kwargs['context'] or the preset key policy_kwargs.context)."
        )
    return kind


def layer_id(name: str) -> int:
    """A stable 32-bit layer index derived from a layer's name (e.g. ``"pi/0"``).

    :param name: the layer's name inside its network
    """
    return zlib.crc32(name.encode("utf-8"))


def _task_rng(seed: int, layer_index: int, task: int) -> np.random.Generator:
    if seed < 0:
        raise ValueError(f"context_seed must be a non-negative integer, got {seed}.")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(layer_index), int(task)]))


def _haar_orthogonal(rng: np.random.Generator, dim: int) -> np.ndarray:
    # QR of a Gaussian matrix with the sign of R's diagonal folded into Q is Haar-distributed
    # (Mezzadri, 2007).
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def task_key(kind: str, dim: int, seed: int, layer_index: int, task: int) -> np.ndarray:
    """The key of one task for one layer, as a numpy array.

    :param kind: ``"binary"``, ``"complex"`` or ``"rotation"``
    :param dim: the layer's fan-in ``N``
    :param seed: the context seed
    :param layer_index: the layer's index (see :func:`layer_id`)
    :param task: the task id
    :return: shape ``(N,)`` (binary: float ±1, complex: unit-modulus complex) or ``(N, N)`` (rotation)
    """
    rng = _task_rng(seed, layer_index, task)
    if kind == "binary":
        return rng.integers(0, 2, size=dim).astype(np.float32) * 2.0 - 1.0
    if kind == "complex":
        phase = math.pi - rng.uniform(0.0, 2.0 * math.pi, size=dim)  # uniform on (-π, π]
        return np.exp(1j * phase).astype(np.complex64)
    if kind == "rotation":
        return _haar_orthogonal(rng, dim).astype(np.float32)
    check_context_kind(kind)
    raise AssertionError("unreachable")  # pragma: no cover


def make_context(kind: str, num_tasks: int, dim: int, seed: int = 0, layer_index: int = 0) -> torch.Tensor:
    """Keys of ``num_tasks`` tasks for one layer, stacked along the first axis.

    :param kind: ``"binary"``, ``"complex"`` or ``"rotation"``
    :param num_tasks: number of tasks ``K``
    :param dim: the layer's fan-in ``N``
    :param seed: the context seed
    :param layer_index: the layer's index (see :func:`layer_id`)
    :return: ``(K, N)`` float32 (binary), ``(K, N)`` complex64 (complex) or ``(K, N, N)`` float32
    """
    check_context_kind(kind)
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be at least 1, got {num_tasks}.")
    keys = np.stack([task_key(kind, dim, seed, layer_index, k) for k in range(num_tasks)])
    return torch.from_numpy(keys)


def apply_context(x: torch.Tensor, key: torch.Tensor, kind: str) -> torch.Tensor:
    """Bind ``x`` (shape ``(..., N)``) to one key: ``c ⊙ x`` or ``C x``.

    :param x: inputs, last axis of size ``N``
    :param key: one task's key (``(N,)`` or ``(N, N)``)
    :param kind: the key's kind
    """
    if kind == "rotation":
        return x @ key.transpose(-1, -2)
    return x * key


def superpose(weights: torch.Tensor, keys: torch.Tensor, kind: str) -> torch.Tensor:
    """Store K linear maps in one: ``W = Σ_k W_k C_k⁻¹``.

    :param weights: ``(K, M, N)`` the maps to superpose
    :param keys: ``(K, N)`` or ``(K, N, N)`` keys from :func:`make_context`
    :param kind: the keys' kind
    :return: ``(M, N)`` the superposed map (complex for complex keys)
    """
    if kind == "binary":
        return (weights * keys[:, None, :]).sum(0)  # diag(c)⁻¹ = diag(c) for signs
    if kind == "complex":
        return (weights.to(keys.dtype) * keys.conj()[:, None, :]).sum(0)
    return (weights @ keys.transpose(-1, -2)).sum(0)  # C_k⁻¹ = C_kᵀ for orthogonal keys


def retrieve(superposed: torch.Tensor, key: torch.Tensor, kind: str) -> torch.Tensor:
    """Retrieve one task's map from a superposed one: ``W C_j``.

    :param superposed: ``(M, N)`` from :func:`superpose`
    :param key: one task's key
    :param kind: the key's kind
    """
    if kind == "rotation":
        return superposed @ key
    return superposed * key


def retrieval_error(superposed: torch.Tensor, weight: torch.Tensor, key: torch.Tensor, kind: str) -> float:
    """Relative error of a retrieved map on the inputs it is tuned to.

    The probe inputs are the rows of ``weight`` (each row's matched input), as in the paper's
    analysis: the retrieved map's response ``(W C_j) w_m`` is compared with the true response
    ``W_j w_m = ||w_m||²``. For random maps the error is close to ``sqrt((K - 1) / N)``
    (see :func:`expected_retrieval_error`).

    :param superposed: ``(M, N)`` the superposed map
    :param weight: ``(M, N)`` the map stored for this task
    :param key: this task's key
    :param kind: the key's kind
    """
    retrieved = retrieve(superposed, key, kind)
    true = (weight * weight).sum(-1)
    got = (retrieved * weight.to(retrieved.dtype)).sum(-1)
    return float(torch.linalg.vector_norm(got - true) / torch.linalg.vector_norm(true))


def expected_retrieval_error(num_tasks: int, dim: int) -> float:
    """The retrieval noise predicted for ``K`` random maps of fan-in ``N``: ``sqrt((K - 1) / N)``.

    :param num_tasks: number of superposed tasks ``K``
    :param dim: fan-in ``N``
    """
    return math.sqrt((num_tasks - 1) / dim)
