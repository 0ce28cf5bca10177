"""Offline stand-ins for tests and benchmarks: a tiny random Gemma-2, its tokenizer, and a matching SAE.

Nothing here downloads: the tokenizer is trained in a fraction of a second and the
weights are random, so the real loading code can be exercised without the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

# google/gemma-2-2b-it's chat template, verbatim
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]

TINY_LAYERS = 4
TINY_HIDDEN = 64
TINY_D_SAE = 256
TINY_SAE_LAYER = 2

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Write a short story about a lighthouse keeper.",
    "Le renard brun saute par-dessus le chien paresseux.",
    "Explain how a bicycle works in simple terms.",
    "Je pense que la cuisine française est délicieuse.",
    "What are three tips for staying focused while studying?",
    "Bonjour, comment allez-vous aujourd'hui ?",
    "Describe the water cycle to a ten year old.",
]


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
        padding_side="left",
    )
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    tokenizer.padding_side = "left"
    return tokenizer


def build_tiny_gemma(
    path: str | Path,
    seed: int = 0,
    hidden_size: int = TINY_HIDDEN,
    layers: int = TINY_LAYERS,
    generation: int = 2,
    head_dim: int = 16,
) -> Path:
    """Save a random Gemma (``Gemma2ForCausalLM`` by default, ``generation=3`` for ``Gemma3ForCausalLM``;
    hidden 64, 4 layers, eager attention) and its tokenizer. A larger ``hidden_size`` gives a real SAE's
    width to a model that is still cheap (its other dimensions stay tiny). vLLM's CPU attention takes head sizes
    32, 64, 80, ... only: a fixture meant for it needs ``head_dim=32``."""
    from transformers import Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig

    path = Path(path)
    if (path / "config.json").exists():
        return path
    tokenizer = build_tokenizer()
    config_class, model_class = (
        (Gemma2Config, Gemma2ForCausalLM) if generation == 2 else (Gemma3TextConfig, Gemma3ForCausalLM)
    )
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=head_dim,
        max_position_embeddings=512,
        sliding_window=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")],
        attn_implementation="eager",
    )
    torch.manual_seed(seed)
    model = model_class(config)
    model.generation_config.eos_token_id = config.eos_token_id
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_sae(
    path: str | Path,
    layer: int = TINY_SAE_LAYER,
    seed: int = 0,
    d_in: int = TINY_HIDDEN,
    d_sae: int = TINY_D_SAE,
    model_name: str = "tiny-gemma-2",
) -> Path:
    """Save a random sae-lens JumpReLU SAE for ``blocks.{layer}.hook_resid_post`` (the tiny model's by default;
    ``d_in=2304, d_sae=16384, layer=20`` is Gemma Scope's layer_20/width_16k shape)."""
    from sae_lens import JumpReLUSAE, JumpReLUSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    path = Path(path)
    if (path / "cfg.json").exists():
        return path
    torch.manual_seed(seed)
    sae = JumpReLUSAE(
        JumpReLUSAEConfig(
            d_in=d_in,
            d_sae=d_sae,
            metadata=SAEMetadata(hook_name=f"blocks.{layer}.hook_resid_post", model_name=model_name),
        )
    )
    with torch.no_grad():
        # decoder rows of norm ~3, comparable to the tiny model's residual norms
        sae.W_dec.copy_(torch.randn_like(sae.W_dec) * 3 / d_in**0.5)
        sae.W_enc.copy_(sae.W_dec.T.clone())
        sae.threshold.fill_(0.1)
    path.mkdir(parents=True, exist_ok=True)
    sae.save_model(str(path))
    return path


def local_converter(sae_dir: str | Path, calls: list[dict[str, Any]] | None = None) -> Any:
    """A sae-lens ``converter=`` that serves a local SAE in place of a hub download.

    It records what the real release lookup asked for (repo id, folder) in ``calls``.
    """
    from sae_lens.loading.pretrained_sae_loaders import sae_lens_disk_loader

    def convert(
        repo_id: str,
        folder_name: str,
        device: str = "cpu",
        force_download: bool = False,
        cfg_overrides: dict[str, Any] | None = None,
    ) -> tuple[dict, dict, None]:
        if calls is not None:
            calls.append({"repo_id": repo_id, "folder_name": folder_name})
        cfg, state = sae_lens_disk_loader(str(sae_dir), device=device)
        return cfg, state, None

    return convert


def build_hub_cache(hub_cache: str | Path, repo_id: str, files: dict[str, Path]) -> Path:
    """Lay ``files`` out as huggingface_hub's cache does (refs/main, blobs named by sha256, snapshot links),
    so ``hf_hub_download`` finds them with ``HF_HUB_OFFLINE=1``, as on a compute node with a filled cache."""
    import hashlib
    import os
    import shutil

    repo = Path(hub_cache) / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    for name, source in files.items():
        digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
        blob = repo / "blobs" / digest
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), blob)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return repo


def random_jumprelu_params(d_in: int, d_sae: int, seed: int = 0) -> dict[str, Any]:
    """Random JumpReLU parameters of Gemma Scope's shapes, as float32 numpy arrays (W_enc is d_in x d_sae)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    w_dec = rng.standard_normal((d_sae, d_in), dtype=np.float32)
    w_dec /= np.linalg.norm(w_dec, axis=1, keepdims=True)
    return {
        "W_enc": np.ascontiguousarray(w_dec.T),
        "W_dec": w_dec,
        "b_enc": np.zeros(d_sae, np.float32),
        "b_dec": np.zeros(d_in, np.float32),
        "threshold": np.full(d_sae, 0.1, np.float32),
    }


def build_gemma_scope_cache(hub_cache: str | Path, params: dict[str, Any], folder: str, repo_id: str) -> Path:
    """Gemma Scope (Gemma 2) in the hub cache: ``<folder>/params.npz`` with W_enc, W_dec, b_enc, b_dec, threshold."""
    import tempfile

    import numpy as np

    staging = Path(tempfile.mkdtemp()) / "params.npz"
    np.savez(staging, **params)
    return build_hub_cache(hub_cache, repo_id, {f"{folder}/params.npz": staging})


def build_gemma_scope_2_cache(hub_cache: str | Path, params: dict[str, Any], folder: str, repo_id: str) -> Path:
    """Gemma Scope 2 in the hub cache: ``<folder>/params.safetensors`` with lower-case w_enc, w_dec, ... (no
    config.json, so sae-lens infers the config from the folder name)."""
    import tempfile

    from safetensors.numpy import save_file

    staging = Path(tempfile.mkdtemp()) / "params.safetensors"
    save_file({key.lower(): value for key, value in params.items()}, str(staging))
    return build_hub_cache(hub_cache, repo_id, {f"{folder}/params.safetensors": staging})


GEMMA_2B_SAE_LAYER = 20
GEMMA_2B_D_SAE = 16384


def build_gemma_2b_shaped(
    device: str = "cpu", dtype: torch.dtype = torch.bfloat16, seed: int = 0, layers: int | None = None
) -> tuple[Any, Any]:
    """A random model with ``Gemma2Config()``'s defaults: gemma-2-2b's architecture (26 layers, hidden 2304,
    vocabulary 256,000, about 2.6B parameters), built in memory on ``device``; nothing is saved or downloaded.

    Its end-of-turn is a token whose embedding row is zero: its logit is exactly 0 while the others are
    spread around it, so replies (practically) never stop early and every row costs ``max_tokens`` steps.
    The tokenizer is the offline one; the ids it cannot decode are dropped from the text.
    ``layers`` cuts the depth, for smoke runs only.
    """
    from transformers import AutoModelForCausalLM, Gemma2Config

    tokenizer = build_tokenizer()
    end = tokenizer.pad_token_id
    config = Gemma2Config(pad_token_id=end, bos_token_id=tokenizer.bos_token_id, eos_token_id=[end])
    if layers is not None:
        config.num_hidden_layers, config.layer_types = layers, config.layer_types[:layers]
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    with torch.no_grad():
        model.get_input_embeddings().weight[end].zero_()
    model.generation_config.eos_token_id = [end]
    model.eval().requires_grad_(False)
    return model, tokenizer


def random_decoder(d_in: int = 2304, d_sae: int = GEMMA_2B_D_SAE, seed: int = 0, device: str = "cpu") -> torch.Tensor:
    """Unit-norm rows of a random ``d_sae x d_in`` SAE decoder, as Gemma Scope's decoder rows are unit norm."""
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randn(d_sae, d_in, generator=generator)
    return (rows / rows.norm(dim=1, keepdim=True)).to(device)
