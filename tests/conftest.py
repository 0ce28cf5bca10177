"""Session-wide offline fixtures: a tiny random Gemma-2, its tokenizer and a matching SAE."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# a fresh Inspect cache per session: cached grader replies from an earlier run would hide retries
os.environ["INSPECT_CACHE_DIR"] = tempfile.mkdtemp(prefix="inspect-cache-")


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fixtures")


@pytest.fixture(scope="session")
def tiny_model_dir(fixture_dir: Path) -> Path:
    from steering.testing import build_tiny_gemma

    return build_tiny_gemma(fixture_dir / "tiny-gemma-2")


@pytest.fixture(scope="session")
def tiny_sae_dir(fixture_dir: Path) -> Path:
    from steering.testing import build_tiny_sae

    return build_tiny_sae(fixture_dir / "tiny-sae")


@pytest.fixture(scope="session")
def tiny(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return model, tokenizer


@pytest.fixture(scope="session")
def tiny_sae(tiny_sae_dir: Path):
    from steering.directions import SaeRef, load_sae

    return load_sae(SaeRef(str(tiny_sae_dir), release=None))


@pytest.fixture(autouse=True, scope="module")
def _stop_vllm_engines():
    """A test module's vLLM engines stop with it: each holds its weights and KV cache in processes of its own."""
    yield
    engines = sys.modules.get("steering.engines.vllm_engine")
    if engines is not None:
        engines.stop_shared()
