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


FITS = ("adam", "ridge")
"""``adam``: the authors' training (ft_effects/train.py); ``ridge``: closed-form least squares with a ridge."""
ADAM = {"lr": 2e-4, "epochs": 15, "batch_size": 64, "validation": 100}
"""The authors' settings: Adam at 2e-4 with a cosine schedule over 15 epochs, batches of 64, MSE, kaiming-uniform
init, unit-norm inputs, the last 100 candidates held out for validation."""


ADAM_MIN_STEPS = 1000
"""Fewer Adam steps than this at lr 2e-4 left a synthetic map unrecovered (4,096 candidates: 960 steps)."""


def _adam(directions: Tensor, effects: Tensor, seed: int) -> tuple[Tensor, Tensor, list[float]]:
    """Their LinearAdapter trained their way; returns W, b and the training loss per epoch."""
    generator = torch.Generator().manual_seed(seed)
    W = torch.nn.Parameter(torch.nn.init.kaiming_uniform_(torch.empty(directions.shape[1], effects.shape[1]),
                                                           generator=generator))  # fmt: skip
    b = torch.nn.Parameter(torch.zeros(effects.shape[1]))
    optimiser = torch.optim.Adam([W, b], lr=ADAM["lr"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=ADAM["epochs"])
    losses = []
    with torch.enable_grad():
        for _ in range(ADAM["epochs"]):
            order, total = torch.randperm(len(directions), generator=generator), 0.0
            for start in range(0, len(order), ADAM["batch_size"]):
                batch = order[start : start + ADAM["batch_size"]]
                optimiser.zero_grad()
                loss = torch.nn.functional.mse_loss(directions[batch] @ W + b, effects[batch])
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(batch)
            schedule.step()
            losses.append(total / len(order))
    return W.detach(), b.detach(), losses


def fit_approximator(
    directions: Tensor,
    effects: Tensor,
    meta: dict[str, str],
    fit: str = "adam",
    ridge: float = 1.0,
    holdout: float = 0.2,
    seed: int = 0,
) -> Fit:
    """The direction -> effect map, with R^2 and MSE on held-out candidates.

    ``adam`` is the authors' fit: inputs scaled to unit norm, the last ``ADAM["validation"]`` candidates held
    out (they are reported on, not trained on, and the saved map is the one trained without them).
    ``ridge`` solves (X^T X + lambda I) w = X^T y in closed form on a random ``holdout`` split and refits on
    every candidate; lambda 1 is not small here: unit candidates give X^T X a mean eigenvalue near
    n / d_model, so it shrinks the map (and turns the targeted vector) along poorly covered directions.
    """
    if fit not in FITS:
        raise ValueError(f"unknown SAE-TS fit {fit!r}: use one of {list(FITS)}")
    directions = directions.float()
    effects = effects.float()
    if fit == "adam":
        directions = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        n_test = min(ADAM["validation"], max(1, len(directions) // 5))
        train, test = torch.arange(len(directions) - n_test), torch.arange(len(directions) - n_test, len(directions))
        steps = ADAM["epochs"] * -(-len(train) // ADAM["batch_size"])
        if steps < ADAM_MIN_STEPS:
            logger.warning(
                "the SAE-TS adam fit takes only %d steps on %d candidates (theirs: 2,160 on 9,216) and may underfit; "
                "compare --fit ridge",
                steps,
                len(train),
            )
        W, b, losses = _adam(directions[train], effects[train], seed)
        W_all, b_all = W, b
        logger.info("SAE-TS adam fit: training MSE per epoch %s", ", ".join(f"{x:.4g}" for x in losses))
    else:
        order = torch.randperm(len(directions), generator=torch.Generator().manual_seed(seed))
        n_test = max(1, int(len(directions) * holdout))
        test, train = order[:n_test], order[n_test:]
        W, b = _ridge(directions[train], effects[train], ridge)
        W_all, b_all = _ridge(directions, effects, ridge)
    heldout = r2(effects[test], directions[test] @ W + b)
    mean_only = r2(effects[test], effects[train].mean(dim=0).expand_as(effects[test]))
    mse = float(((effects[test] - (directions[test] @ W + b)) ** 2).mean())
    logger.info("SAE-TS %s fit: validation MSE %.6g, held-out R^2 %.4f on %d candidates", fit, mse, heldout, n_test)
    meta = {
        **meta,
        "fit": fit if fit == "adam" else f"ridge (lambda {ridge:g})",
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
