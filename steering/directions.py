"""Where steering vectors come from: SAE decoder rows, vector files, difference of means."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from steering.defaults import DEFAULT_SAE_RELEASE
from steering.hooks import recording
from steering.layers import check_layer, decoder_layers
from steering.sae_directory import release_hint

if TYPE_CHECKING:
    from sae_lens import SAE


_RESID_POST_HOOK = re.compile(r"^blocks\.(\d+)\.hook_resid_post$")


@dataclass(frozen=True)
class SaeRef:
    """An SAE by sae-lens release and id, or by a local folder (``release=None``)."""

    sae_id: str
    release: str | None = DEFAULT_SAE_RELEASE

    @property
    def name(self) -> str:
        return self.sae_id if self.release is None else f"{self.release}/{self.sae_id}"


@dataclass(frozen=True)
class FeatureDirections:
    """Decoder rows of the features asked for; the rest of the SAE is dropped."""

    rows: dict[int, Tensor]
    d_sae: int
    d_in: int
    hook_name: str | None


def load_sae(ref: SaeRef, device: str = "cpu", converter: Any = None) -> SAE:
    """Load through sae-lens: the hub release users run, or a folder saved by ``save_model``.

    ``converter`` is sae-lens's own hook for replacing the hub download; tests use it
    to feed a local stand-in through the real ``SAE.from_pretrained`` call.
    """
    from sae_lens import SAE  # 5 s import: only when an SAE is needed

    if ref.release is None:
        if not Path(ref.sae_id).is_dir():
            raise ValueError(f"SAE folder {ref.sae_id!r} does not exist{release_hint(ref.sae_id)}")
        return SAE.load_from_disk(ref.sae_id, device=device)
    converter = converter or _offline_capable_loader(ref.release)
    if converter is not None:
        return SAE.from_pretrained(ref.release, ref.sae_id, device=device, converter=converter)
    return SAE.from_pretrained(ref.release, ref.sae_id, device=device)


_SHAPES_LOCK = threading.Lock()


def _cached_tensor_shapes(repo_id: str, filename: str) -> dict[str, list[int]]:
    """Tensor shapes read from the hub cache's file (downloaded first when online and missing)."""
    from huggingface_hub import hf_hub_download
    from safetensors import safe_open

    with safe_open(hf_hub_download(repo_id, filename), framework="pt") as file:
        return {key: list(file.get_slice(key).get_shape()) for key in file.keys()}  # noqa: SIM118


def _gemma_3_loader(
    repo_id: str,
    folder_name: str,
    device: str = "cpu",
    force_download: bool = False,
    cfg_overrides: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Tensor], None]:
    """sae-lens's own Gemma Scope 2 loader, with the tensor shapes read from the cached file.

    sae-lens asks the hub for the shapes with HTTP range requests even when the file is cached,
    so a compute node with a populated cache and no network could not load the SAE.
    """
    from sae_lens.loading import pretrained_sae_loaders as loaders

    with _SHAPES_LOCK:
        original = loaders.get_safetensors_tensor_shapes
        loaders.get_safetensors_tensor_shapes = _cached_tensor_shapes
        try:
            return loaders.gemma_3_sae_huggingface_loader(repo_id, folder_name, device, force_download, cfg_overrides)
        finally:
            loaders.get_safetensors_tensor_shapes = original


def _offline_capable_loader(release: str) -> Any:
    """A replacement for releases whose sae-lens loader needs the network even with a cache; else None."""
    from sae_lens.loading.pretrained_sae_loaders import get_conversion_loader_name

    try:
        name = get_conversion_loader_name(release)
    except Exception:  # an unknown release: let sae-lens's own call say so
        return None
    return _gemma_3_loader if name == "gemma_3" else None


def sae_hook_layer(hook_name: str | None) -> int | None:
    """The layer of a ``blocks.L.hook_resid_post`` hook, or None for other hooks."""
    match = _RESID_POST_HOOK.match(hook_name or "")
    return int(match.group(1)) if match else None


def check_sae_fits(*, d_in: int, hook_name: str | None, hidden_size: int, layer: int, sae_name: str) -> None:
    if d_in != hidden_size:
        raise ValueError(
            f"SAE {sae_name} has d_in={d_in} but the model's hidden size is {hidden_size}: "
            "pick an SAE trained on this model"
        )
    sae_layer = sae_hook_layer(hook_name)
    if hook_name is not None and sae_layer is None:
        raise ValueError(
            f"SAE {sae_name} reads hook {hook_name!r}; only residual-stream SAEs "
            "(blocks.L.hook_resid_post) can steer the residual stream"
        )
    if sae_layer is not None and sae_layer != layer:
        raise ValueError(
            f"SAE {sae_name} was trained on layer {sae_layer} ({hook_name}) "
            f"but steering is set to layer {layer}: use layer={sae_layer} or an SAE for layer {layer}"
        )


def check_feature(feature: int, d_sae: int, sae_name: str = "the SAE") -> None:
    if not isinstance(feature, int) or isinstance(feature, bool):
        raise ValueError(f"feature must be an integer, got {feature!r}")
    if not 0 <= feature < d_sae:
        raise ValueError(f"feature {feature} is out of range: {sae_name} has {d_sae} features (0..{d_sae - 1})")


def sae_feature_directions(
    sae: SAE, features: list[int], *, normalize: bool = False, sae_name: str = "the SAE"
) -> FeatureDirections:
    """Raw decoder rows by default (Neuronpedia's convention: alpha 122 means what it means there)."""
    d_sae, d_in = sae.W_dec.shape
    for feature in features:
        check_feature(feature, d_sae, sae_name)
    rows = {}
    for feature in features:
        row = sae.W_dec[feature].detach().float().clone()
        rows[feature] = row / row.norm() if normalize else row
    return FeatureDirections(rows, d_sae, d_in, sae.cfg.metadata.hook_name)


def load_vector_file(path: str | Path, key: str | None = None) -> Tensor:
    """A direction from ``.safetensors`` (one tensor, or ``key``) or ``.npy``; never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"vector file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        if key is None and len(tensors) != 1:
            raise ValueError(f"{path} holds tensors {sorted(tensors)}: name one with a key")
        if key is not None and key not in tensors:
            raise ValueError(f"{path} has no tensor {key!r}; it holds {sorted(tensors)}")
        vector = tensors[key] if key is not None else next(iter(tensors.values()))
    elif path.suffix == ".npy":
        vector = torch.from_numpy(np.load(path, allow_pickle=False))
    else:
        raise ValueError(f"vector file {path} must end in .safetensors or .npy")
    vector = vector.float().squeeze()
    if vector.ndim != 1:
        raise ValueError(f"{path} holds a tensor of shape {tuple(vector.shape)}; expected one vector")
    return vector


def content_positions(attention_mask: Tensor) -> Tensor:
    """Real (non-pad) positions minus each row's first token, an attention sink with an outsized norm."""
    keep = attention_mask.bool().clone()
    keep[torch.arange(keep.shape[0]), attention_mask.argmax(dim=1)] = False
    return keep


@torch.no_grad()
def diff_of_means(
    model: Any,
    tokenizer: Any,
    layer: int,
    positive: list[str],
    negative: list[str],
    batch_size: int = 16,
) -> Tensor:
    """mean(decoder layer L's output | positive) - mean(... | negative) over content tokens.

    Position 0 and special tokens are excluded: the first token is an attention sink
    whose residual norm dwarfs every other token's and would dominate the mean.
    """
    check_layer(layer, len(decoder_layers(model)))
    means = []
    for texts in (positive, negative):
        if not texts:
            raise ValueError("difference of means needs at least one sentence on each side")
        total, count = None, 0
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                return_tensors="pt",
                padding=True,
                return_special_tokens_mask=True,
            ).to(model.device)
            special = batch.pop("special_tokens_mask").bool()
            # the layer's own output, where the hook steers: hidden_states[layer + 1] is that only below
            # the last layer (after the last one transformers records the final norm's output instead)
            with recording(model, layer) as seen:
                # the decoder stack alone: the lm head (262k rows on Gemma 3) would cost more than every layer
                getattr(model, "base_model", model)(**batch)
            hidden = seen[0]
            keep = content_positions(batch["attention_mask"]) & ~special
            summed = (hidden.float() * keep[..., None]).sum(dim=(0, 1))
            total = summed if total is None else total + summed
            count += int(keep.sum())
        if count == 0:
            raise ValueError("no content tokens left after excluding position 0 and special tokens")
        means.append(total / count)
    return means[0] - means[1]
