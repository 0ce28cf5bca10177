"""The linear map direction -> effect, its fit and held-out quality, and the targeted vector it gives."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

logger = logging.getLogger(__name__)


@dataclass
class Approximator:
    """effect ≈ direction @ W + b, for unit directions at their loss-matched scale."""

    W: Tensor  # (d_model, d_sae)
    b: Tensor  # (d_sae,)
    meta: dict[str, str]

    def predict(self, directions: Tensor) -> Tensor:
        return directions @ self.W + self.b

    def targeted_vector(self, target: Tensor) -> Tensor:
        """SAE-TS: normalize(normalize(W t) - normalize(W b)), W used from effects back to directions."""
        toward = self.W @ target
        common = self.W @ self.b
        vector = toward / toward.norm() - common / common.norm()
        return vector / vector.norm()

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file({"W": self.W.contiguous(), "b": self.b.contiguous()}, str(path), metadata=self.meta)

    @classmethod
    def load(cls, path: str | Path) -> Approximator:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return cls(f.get_tensor("W"), f.get_tensor("b"), dict(f.metadata() or {}))


@dataclass(frozen=True)
class Fit:
    approximator: Approximator
    r2_heldout: float
    r2_mean_only: float
    mse_heldout: float
    """The authors' validation figure: mean squared error of the predicted effects on held-out candidates."""


def r2(truth: Tensor, predicted: Tensor) -> float:
    """Coefficient of determination over every (candidate, feature) cell."""
    total = ((truth - truth.mean(dim=0)) ** 2).sum()
    return float(1 - ((truth - predicted) ** 2).sum() / total)


def _ridge(directions: Tensor, effects: Tensor, ridge: float) -> tuple[Tensor, Tensor]:
    x = torch.cat([directions, torch.ones(len(directions), 1)], dim=1).double()
    penalty = torch.eye(x.shape[1], dtype=torch.float64) * ridge
    penalty[-1, -1] = 0  # the bias is not shrunk
    solution = torch.linalg.solve(x.T @ x + penalty, x.T @ effects.double())
    return solution[:-1].float(), solution[-1].float()


def fit_approximator(
    directions: Tensor, effects: Tensor, meta: dict[str, str], ridge: float = 1.0, holdout: float = 0.2, seed: int = 0
) -> Fit:
    """Least squares with a small ridge; R^2 on held-out candidates against predicting the training mean."""
    order = torch.randperm(len(directions), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(len(directions) * holdout))
    test, train = order[:n_test], order[n_test:]
    W, b = _ridge(directions[train], effects[train], ridge)
    heldout = r2(effects[test], directions[test] @ W + b)
    mean_only = r2(effects[test], effects[train].mean(dim=0).expand_as(effects[test]))
    mse = float(((effects[test] - (directions[test] @ W + b)) ** 2).mean())
    W_all, b_all = _ridge(directions, effects, ridge)
    meta = {
        **meta,
        "r2_heldout": f"{heldout:.4f}",
        "r2_mean_only": f"{mean_only:.4f}",
        "mse_heldout": f"{mse:.6g}",
        "n_candidates": str(len(directions)),
    }
    return Fit(Approximator(W_all, b_all, meta), heldout, mean_only, mse)


def target_offtarget_ratio(effect: Tensor, feature: int) -> float:
    """Effect on the target feature per unit of (L2) effect on all the others."""
    others = torch.cat([effect[:feature], effect[feature + 1 :]])
    return float(effect[feature] / others.norm().clamp_min(1e-12))
