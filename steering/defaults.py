"""Defaults that both the provider and the analysis of its logs need, without importing torch."""

DEFAULT_SAE_RELEASE = "gemma-scope-2b-pt-res-canonical"
DEFAULT_SAE_ID = "layer_20/width_16k/canonical"
DEFAULT_LAYER = 20
DEFAULT_POSITIONS = "all"

PROVIDER_DEFAULTS: dict[str, object] = {
    "layer": DEFAULT_LAYER,
    "sae_release": DEFAULT_SAE_RELEASE,
    "sae_id": DEFAULT_SAE_ID,
    "positions": DEFAULT_POSITIONS,
}
"""What a log's model_args leave out meant these (the analysis reads old logs with them)."""
