"""Context keys that follow a continuous task coordinate ``s ∈ [0, 1)`` (the phase of a drift).

The PSP paper handles a task that changes continuously by letting the context move with it: keys at
nearby ``s`` are close, so one network holds a continuum of models. ``s`` is periodic (``s = 1`` is
``s = 0``), as the phase of a periodic drift is. The kinds (``drift_context``):

* ``power``       -- complex keys, powers of one key: ``c(s) = c₀ ⊙ exp(2πi·n·s)`` with a fixed integer
  frequency ``n_j ∈ {±1, …, ±M}`` per input (``M = drift_keys``): periodic, unit modulus, and two keys
  ``Δs`` apart decorrelate within about ``1/M`` of a period.
* ``geodesic``    -- rotation keys along a geodesic of SO(N): ``C(s) = C₀ · Q·B(2π·n·s)·Qᵀ`` with ``Q`` a fixed
  random rotation and ``B`` rotating ``⌊N/2⌋`` coordinate planes by integer multiples of ``2πs``; every
  ``C(s)`` is exactly orthogonal, and ``C(s) = C₀ (C₀ᵀ C(1/M'))^{M's}`` is a matrix power of one rotation.
* ``interpolate`` -- any kind (binary included): ``M`` anchor keys at ``s = a / M``, linearly
  interpolated (cyclic). Mixed keys are not ±1 / unit-modulus / orthogonal between anchors.
* ``binned``      -- the same anchors, no interpolation: the phase binned into ``M`` fixed keys (the
  baseline a drifting context is measured against).

Like task keys, everything is drawn from ``(seed, layer index)`` and held in persistent buffers.

Example::

    >>> keys = DriftingKeys("interpolate", "binary", dim=8, num_keys=4)
    >>> keys.keys(torch.tensor([0.0, 0.1, 0.5])).shape
    torch.Size([3, 8])
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from psp_rl.nn.contexts import context_kind, task_key

DRIFT_CONTEXTS: tuple[str, ...] = ("power", "geodesic", "interpolate", "binned")
# Anchor keys are task keys of these (never used) task ids, so they are drawn like task keys but never
# coincide with one.
_ANCHOR_BASE = 2**40


def check_drift_context(drift: str | None, context: str) -> None:
    """Check that a drifting-context kind exists and fits the context kind.

    :param drift: ``None`` (keys by task id) or one of :data:`DRIFT_CONTEXTS`
    :param context: the context kind
    :raises ValueError: naming the fix
    """
    if drift is None:
        return
    if drift not in DRIFT_CONTEXTS:
        raise ValueError(
            f"Unknown drift_context {drift!r}: use one of {', '.join(DRIFT_CONTEXTS)} (or null: keys by task id)."
        )
    needs = {"power": "complex", "geodesic": "rotation"}.get(drift)
    if needs is not None and context != needs:
        raise ValueError(
            f"drift_context {drift} follows {needs} keys: set context={needs}, or use drift_context "
            "interpolate or binned (every kind)."
        )


def phase_bins(coord: torch.Tensor, num_bins: int) -> torch.Tensor:
    """The bin of each coordinate when ``[0, 1)`` is cut into ``num_bins`` equal bins: ``⌊num_bins · s⌋``
    (``s`` taken modulo 1). Bin ``a`` starts at anchor ``a / M`` of the ``binned`` keys.

    :param coord: ``(B,)`` coordinates
    :param num_bins: the number of bins
    :return: ``(B,)`` integer bins in ``[0, num_bins)``
    """
    return torch.floor(torch.remainder(coord, 1.0) * num_bins).long().clamp_max(num_bins - 1)


def _rng(seed: int, layer_index: int, tag: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(layer_index), _ANCHOR_BASE - tag]))


def _frequencies(rng: np.random.Generator, size: int, num_keys: int) -> np.ndarray:
    """Integer frequencies in ``{±1, …, ±num_keys}``."""
    return rng.integers(1, num_keys + 1, size=size) * rng.choice(np.array([-1, 1]), size=size)


class DriftingKeys(nn.Module):
    """The keys of one layer as a function of the coordinate ``s``.

    :param drift: ``power``, ``geodesic``, ``interpolate`` or ``binned``
    :param context: the layer's context kind
    :param dim: the layer's fan-in ``N``
    :param num_keys: ``M``: the frequency range (``power``, ``geodesic``) or the number of anchors
    :param seed: the context seed
    :param layer_index: the layer's index
    """

    # buffers registered in __init__, by kind
    anchors: torch.Tensor
    base: torch.Tensor
    freq: torch.Tensor
    plane: torch.Tensor

    def __init__(
        self, drift: str, context: str, dim: int, num_keys: int = 8, seed: int = 0, layer_index: int = 0
    ) -> None:
        super().__init__()
        check_drift_context(drift, context)
        if isinstance(num_keys, bool) or not isinstance(num_keys, int) or num_keys < 1:
            raise ValueError(f"drift_keys must be a positive integer, got {num_keys!r}.")
        self.drift, self.dim, self.num_keys = drift, dim, num_keys
        self.kind = context_kind(context)
        if drift in ("interpolate", "binned"):
            anchors = np.stack(
                [task_key(context, dim, seed, layer_index, _ANCHOR_BASE + a) for a in range(num_keys)]
            )
            self.register_buffer("anchors", torch.from_numpy(anchors))
        elif drift == "power":
            base = task_key("complex", dim, seed, layer_index, _ANCHOR_BASE)
            self.register_buffer("base", torch.from_numpy(base))
            freq = _frequencies(_rng(seed, layer_index, 1), dim, num_keys)
            self.register_buffer("freq", torch.as_tensor(freq, dtype=torch.float32))
        else:  # geodesic
            self.register_buffer(
                "base", torch.from_numpy(task_key("rotation", dim, seed, layer_index, _ANCHOR_BASE))
            )
            plane = task_key("rotation", dim, seed, layer_index, _ANCHOR_BASE + 1)
            self.register_buffer("plane", torch.from_numpy(plane))
            freq = _frequencies(_rng(seed, layer_index, 2), dim // 2, num_keys)
            self.register_buffer("freq", torch.as_tensor(freq, dtype=torch.float32))

    def _anchor_mix(self, coord: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        low = phase_bins(coord, self.num_keys)
        pos = torch.remainder(coord, 1.0) * self.num_keys
        return low, torch.remainder(low + 1, self.num_keys), (pos - low.to(pos.dtype))

    def keys(self, coord: torch.Tensor) -> torch.Tensor:
        """The key of every sample: ``(B, N)`` (binary, complex) or ``(B, N, N)`` (rotation).

        :param coord: ``(B,)`` coordinates in ``[0, 1)`` (taken modulo 1)
        """
        coord = coord.reshape(-1).to(torch.float32)
        if self.drift in ("interpolate", "binned"):
            low, high, weight = self._anchor_mix(coord)
            first = self.anchors.index_select(0, low)
            if self.drift == "binned":
                return first
            shape = (-1,) + (1,) * (first.dim() - 1)
            weight = weight.reshape(shape)
            return first * (1 - weight) + self.anchors.index_select(0, high) * weight
        angles = 2 * math.pi * coord[:, None] * self.freq[None, :]
        if self.drift == "power":
            return self.base[None, :] * torch.polar(torch.ones_like(angles), angles)
        eye = torch.eye(self.dim, device=coord.device).expand(coord.shape[0], -1, -1)
        return self.bind_rows(eye, coord).transpose(1, 2)  # column j = C(s) e_j

    def bind_rows(self, x: torch.Tensor, coord: torch.Tensor) -> torch.Tensor:
        """Geodesic keys applied to ``x`` without building the matrices: ``C(s) x`` per sample.

        :param x: ``(B, N)`` or ``(B, L, N)``
        :param coord: ``(B,)``
        """
        angles = 2 * math.pi * torch.remainder(coord.reshape(-1), 1.0)[:, None] * self.freq[None, :]
        cos, sin = torch.cos(angles), torch.sin(angles)
        if x.dim() == 3:
            cos, sin = cos[:, None, :], sin[:, None, :]
        u = x @ self.plane  # Qᵀ x, in row form
        pairs = 2 * self.freq.shape[0]
        a, b = u[..., 0:pairs:2], u[..., 1:pairs:2]
        rotated = torch.stack([cos * a - sin * b, sin * a + cos * b], dim=-1).flatten(-2)
        v = torch.cat([rotated, u[..., pairs:]], dim=-1)
        return (v @ self.plane.T) @ self.base.T  # C₀ Q v

    def bind(self, x: torch.Tensor, coord: torch.Tensor | None) -> torch.Tensor:
        """Apply each sample's key to ``x`` (``(B, N)`` or ``(B, L, N)``).

        :param x: inputs
        :param coord: ``(B,)`` coordinates
        :raises ValueError: without coordinates
        """
        if coord is None:
            raise ValueError(
                "this layer's keys follow a continuous coordinate (drift_context) but the batch has none: "
                "the observation needs a 'coord' entry (a suite with coordinate: true)."
            )
        if self.drift == "geodesic":
            return self.bind_rows(x, coord)
        return self.kind.bind_each(x, self.keys(coord))

    def extra_repr(self) -> str:
        return f"drift={self.drift}, context={self.kind.name}, dim={self.dim}, num_keys={self.num_keys}"
