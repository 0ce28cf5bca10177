"""sae-lens's directory of pretrained SAEs, read without importing sae-lens (a 5 s import), to check
``-M sae_release`` / ``-M sae_id`` before any weights load."""

from __future__ import annotations

import difflib
import importlib.util
import re
from functools import cache
from pathlib import Path
from typing import Any


@cache
def pretrained_directory() -> dict[str, Any]:
    """sae-lens's ``pretrained_saes.yaml`` (release -> repo, saes, ...); empty when sae-lens is not installed."""
    import yaml

    spec = importlib.util.find_spec("sae_lens")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained_saes.yaml"
    if not path.is_file():
        return {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader) or {}


def check_sae_release(release: str, sae_id: str) -> None:
    """The release exists and holds the id; the error names the closest valid values."""
    directory = pretrained_directory()
    if not directory:
        return  # nothing to check against: sae-lens's own call will say what is wrong
    if release not in directory:
        close = difflib.get_close_matches(release, list(directory), n=3, cutoff=0.5)
        raise ValueError(
            f"sae_release {release!r} is not a sae-lens release"
            + (f"; did you mean {close}?" if close else "; see sae-lens's pretrained_saes.yaml")
        )
    ids = [str(entry.get("id")) for entry in directory[release].get("saes", [])]
    if sae_id not in ids:
        close = difflib.get_close_matches(sae_id, ids, n=3, cutoff=0.5)
        raise ValueError(
            f"sae_id {sae_id!r} is not in release {release!r} ({len(ids)} ids)"
            + (f"; closest: {close}" if close else f"; e.g. {ids[:3]}")
        )


def ids_for_layer(release: str, layer: object) -> str:
    """The ids a release holds for a layer, for an error message."""
    entries = pretrained_directory().get(release, {}).get("saes", [])
    ids = [str(e.get("id")) for e in entries if re.search(rf"(^|[^0-9])(layer_)?{layer}(/|$|[^0-9])", str(e.get("id")))]
    if not ids:
        return f"see {release!r} in sae-lens's pretrained_saes.yaml"
    return f"ids for layer {layer}: {ids[:6]}" + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")


def release_hint(value: str) -> str:
    """For ``-M sae=<release>/<id>``: name the arguments that take a release."""
    release, _, sae_id = str(value).partition("/")
    if not sae_id or release not in pretrained_directory():
        return ""
    return f"; {release!r} is a sae-lens release: use -M sae_release={release} -M sae_id={sae_id}"


WIDTHS = {"4k": 4096, "16k": 16384, "32k": 32768, "65k": 65536, "131k": 131072, "262k": 262144, "524k": 524288,
          "1m": 1048576}  # fmt: skip
"""Gemma Scope's ``width_...`` names, as sae-lens reads them."""


def sae_width(model_args: dict[str, Any]) -> int | None:
    """The SAE's feature count before its weights load: a local folder's ``cfg.json`` (``d_sae``), or the width
    a Gemma Scope id names; None when neither says."""
    import json

    from steering.defaults import DEFAULT_SAE_ID

    folder = model_args.get("sae")
    if folder:
        config = Path(str(folder)) / "cfg.json"
        if not config.is_file():
            return None
        width = json.loads(config.read_text()).get("d_sae")
        return width if isinstance(width, int) else None
    return width_from_id(str(model_args.get("sae_id", DEFAULT_SAE_ID)))


def check_feature_width(feature: int, model_args: dict[str, Any]) -> None:
    """A feature id past the SAE's width fails before any weights load, naming the valid range."""
    width = sae_width(model_args)
    if width is not None and not 0 <= feature < width:
        name = model_args.get("sae") or model_args.get("sae_id") or "the default SAE"
        raise ValueError(f"feature {feature} is out of range: SAE {name} has {width} features (0..{width - 1})")


def width_from_id(sae_id: str) -> int | None:
    """The SAE's feature count named in a Gemma Scope id (``layer_20/width_16k/canonical`` -> 16384), else None."""
    match = re.search(r"width_(\d+[km])", sae_id)
    return WIDTHS.get(match.group(1)) if match else None
