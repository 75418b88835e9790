"""Context keys for Parameter Superposition: one :class:`ContextKind` object per kind of key.

A context key ``c_k`` binds one task ``k`` to a layer: the layer computes ``W (c_k ⊙ x)`` (or
``W C_k x`` for rotations). Keys are generated deterministically from ``(seed, layer index, task id)``
so a key never depends on how many tasks exist: growing K keeps every earlier key.

The three kinds of Cheung et al. (2019):

* ``binary``   -- ``c_k ∈ {-1, +1}^N``, i.i.d. fair signs (pspBinary, the default);
* ``complex``  -- ``c_k = exp(iφ)``, ``φ ~ U(-π, π]`` (pspComplex; used with complex weights);
* ``rotation`` -- ``C_k`` a Haar-random orthogonal ``N × N`` matrix (pspRotation).

Everything that differs between the kinds -- drawing a key, binding it to the inputs, folding it into
a weight, mixing keys -- is a method of its :class:`ContextKind`; layers hold the object and never
branch on the kind's name. This module also measures the paper's retrieval noise
(:func:`superpose`, :func:`retrieval_error`).

Example::

    >>> keys = make_context("binary", num_tasks=3, dim=8, seed=0, layer_index=0)
    >>> keys.shape
    torch.Size([3, 8])
    >>> context_kind("rotation").bind(torch.ones(2, 4), torch.eye(4)).shape
    torch.Size([2, 4])
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch

from psp_rl.nn.pertask import broadcast_rows, per_sample_matmul

__all__ = [
    "CONTEXT_KINDS",
    "ContextKind",
    "check_context_kind",
    "context_kind",
    "expected_retrieval_error",
    "layer_id",
    "make_context",
    "retrieval_error",
    "retrieve",
    "superpose",
    "task_key",
]


class ContextKind:
    """One kind of context key: how a key is drawn and how it acts on inputs and weights.

    A key is a vector ``c`` of shape ``(N,)`` that multiplies entry by entry (``c ⊙ x``, the binary and
    complex kinds: this class), or a matrix ``C`` of shape ``(N, N)`` that multiplies
    (:class:`RotationKind`). ``N`` is the fan-in of the layer the key belongs to.
    """

    #: the kind's name, as in ``policy_kwargs.context``
    name: str = ""
    #: the dtype of the weights a superposed layer holds under this kind
    weight_dtype: torch.dtype = torch.float32

    def draw(self, rng: np.random.Generator, dim: int) -> np.ndarray:
        """One key drawn from ``rng``.

        :param rng: the generator of one ``(seed, layer, task)``
        :param dim: the fan-in ``N``
        """
        raise NotImplementedError

    def bind(self, x: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """One key for the whole batch: ``c ⊙ x``.

        :param x: ``(..., N)`` inputs
        :param key: ``(N,)``
        """
        return x * key

    def bind_each(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """One key per sample: ``c_b ⊙ x_b``.

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param keys: ``(B, N)``, sample ``b``'s key in row ``b``
        """
        return x * broadcast_rows(keys, x)

    def bind_tasks(self, x: torch.Tensor, keys: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Each sample's key picked by its task id: ``c[task_b] ⊙ x_b``.

        :param x: ``(B, N)`` or ``(B, L, N)`` inputs
        :param keys: ``(K, N)`` every task's key
        :param task: ``(B,)`` task ids
        """
        return self.bind_each(x, keys.index_select(0, task))

    def fold(self, weight: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """The key folded into a weight, ``W diag(c)``, so that ``fold(W, c) x = W (c ⊙ x)``.

        :param weight: ``(M, N)``
        :param key: ``(N,)``
        """
        return weight * key

    def mix(self, alpha: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Keys mixed by weights over the tasks, ``Σ_k α_k c_k``.

        :param alpha: ``(K,)`` (one mixed key) or ``(B, K)`` (one per sample), in the keys' dtype
        :param keys: ``(K, N)`` every task's key
        :return: ``(N,)`` or ``(B, N)``
        """
        return alpha @ keys

    def superpose(self, weights: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``K`` linear maps stored in one: ``W = Σ_k W_k diag(c_k)⁻¹`` (signs are their own inverse).

        :param weights: ``(K, M, N)`` the maps
        :param keys: ``(K, N)`` their keys
        """
        return (weights * keys[:, None, :]).sum(0)

    def __reduce__(self) -> tuple:
        return context_kind, (self.name,)  # one object per kind, also after a copy or a pickle

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BinaryKind(ContextKind):
    """``c ∈ {-1, +1}^N``: fair random signs (pspBinary)."""

    name = "binary"

    def draw(self, rng: np.random.Generator, dim: int) -> np.ndarray:  # noqa: D102
        return rng.integers(0, 2, size=dim).astype(np.float32) * 2.0 - 1.0


class ComplexKind(ContextKind):
    """``c = exp(iφ)`` with ``φ`` uniform on ``(-π, π]`` (pspComplex); the weights are complex."""

    name = "complex"
    weight_dtype = torch.complex64

    def draw(self, rng: np.random.Generator, dim: int) -> np.ndarray:  # noqa: D102
        phase = math.pi - rng.uniform(0.0, 2.0 * math.pi, size=dim)  # uniform on (-π, π]
        return np.exp(1j * phase).astype(np.complex64)

    def superpose(self, weights: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return (weights.to(keys.dtype) * keys.conj()[:, None, :]).sum(0)  # diag(c)⁻¹ = diag(c̄)


class RotationKind(ContextKind):
    """``C`` a Haar-random orthogonal ``N × N`` matrix (pspRotation): ``N²`` numbers per task and layer."""

    name = "rotation"

    def draw(self, rng: np.random.Generator, dim: int) -> np.ndarray:  # noqa: D102
        # QR of a Gaussian matrix with the sign of R's diagonal folded into Q is Haar-distributed
        # (Mezzadri, 2007).
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        return (q * np.sign(np.diag(r))).astype(np.float32)

    def bind(self, x: torch.Tensor, key: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x @ key.T

    def bind_each(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.einsum("bmn,b...n->b...m", keys.to(x.dtype), x)

    def bind_tasks(self, x: torch.Tensor, keys: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Each sample's rotation by its task id, without gathering a ``B × N × N`` tensor
        (:func:`~psp_rl.nn.pertask.per_sample_matmul`). See :meth:`ContextKind.bind_tasks`."""
        return per_sample_matmul(x, keys, task)

    def fold(self, weight: torch.Tensor, key: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return weight @ key.to(weight.dtype)

    def mix(self, alpha: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if alpha.dim() == 1:
            return torch.einsum("k,kmn->mn", alpha, keys)
        return torch.einsum("bk,kmn->bmn", alpha, keys)

    def superpose(self, weights: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return (weights @ keys.transpose(-1, -2)).sum(0)  # C⁻¹ = Cᵀ for orthogonal keys


_KINDS: dict[str, ContextKind] = {kind.name: kind for kind in (BinaryKind(), ComplexKind(), RotationKind())}
CONTEXT_KINDS: tuple[str, ...] = tuple(_KINDS)


def context_kind(name: str) -> ContextKind:
    """The :class:`ContextKind` of a name, or a ``ValueError`` listing the kinds.

    :param name: ``"binary"``, ``"complex"`` or ``"rotation"``
    """
    kind = _KINDS.get(name)
    if kind is None:
        raise ValueError(
            f"Unknown context kind {name!r}: use one of {', '.join(CONTEXT_KINDS)} "
            "(policy_kwargs['context'] or the preset key policy_kwargs.context)."
        )
    return kind


def check_context_kind(kind: str) -> str:
    """Return ``kind`` if it names a context kind, else raise a ``ValueError`` listing the kinds.

    :param kind: the context kind to check
    """
    return context_kind(kind).name


def layer_id(name: str) -> int:
    """A stable 32-bit layer index derived from a layer's name (e.g. ``"pi/0"``).

    :param name: the layer's name inside its network
    """
    return zlib.crc32(name.encode("utf-8"))


def task_key(kind: str, dim: int, seed: int, layer_index: int, task: int) -> np.ndarray:
    """The key of one task for one layer, as a numpy array.

    :param kind: ``"binary"``, ``"complex"`` or ``"rotation"``
    :param dim: the layer's fan-in ``N``
    :param seed: the context seed (non-negative)
    :param layer_index: the layer's index (see :func:`layer_id`)
    :param task: the task id
    :return: shape ``(N,)`` (binary: float ±1, complex: unit-modulus complex) or ``(N, N)`` (rotation)
    """
    if seed < 0:
        raise ValueError(f"context_seed must be a non-negative integer, got {seed}.")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(layer_index), int(task)]))
    return context_kind(kind).draw(rng, dim)


def make_context(kind: str, num_tasks: int, dim: int, seed: int = 0, layer_index: int = 0) -> torch.Tensor:
    """Keys of ``num_tasks`` tasks for one layer, stacked along the first axis.

    :param kind: ``"binary"``, ``"complex"`` or ``"rotation"``
    :param num_tasks: number of tasks ``K``
    :param dim: the layer's fan-in ``N``
    :param seed: the context seed
    :param layer_index: the layer's index (see :func:`layer_id`)
    :return: ``(K, N)`` float32 (binary), ``(K, N)`` complex64 (complex) or ``(K, N, N)`` float32
    """
    context_kind(kind)
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be at least 1, got {num_tasks}.")
    keys = np.stack([task_key(kind, dim, seed, layer_index, k) for k in range(num_tasks)])
    return torch.from_numpy(keys)


def superpose(weights: torch.Tensor, keys: torch.Tensor, kind: str) -> torch.Tensor:
    """Store K linear maps in one: ``W = Σ_k W_k C_k⁻¹``.

    :param weights: ``(K, M, N)`` the maps to superpose
    :param keys: ``(K, N)`` or ``(K, N, N)`` keys from :func:`make_context`
    :param kind: the keys' kind
    :return: ``(M, N)`` the superposed map (complex for complex keys)
    """
    return context_kind(kind).superpose(weights, keys)


def retrieve(superposed: torch.Tensor, key: torch.Tensor, kind: str) -> torch.Tensor:
    """Retrieve one task's map from a superposed one: ``W C_j`` (the key folded into the map).

    :param superposed: ``(M, N)`` from :func:`superpose`
    :param key: one task's key
    :param kind: the key's kind
    """
    return context_kind(kind).fold(superposed, key)


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
