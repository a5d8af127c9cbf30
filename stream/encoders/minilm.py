"""BERT's encoder in plain torch, as all-MiniLM-L6-v2 uses it (see :mod:`stream.encoders.text`).

Parameter names follow transformers' ``BertModel`` after :data:`RENAME`, so the model's own
safetensors file loads strictly. Imported only where a sentence embedder is made (torch).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# BertModel's names -> ours (the pooler is not used: sentence embeddings mean-pool).
RENAME = {"embeddings.word_embeddings": "word", "embeddings.position_embeddings": "position",
          "embeddings.token_type_embeddings": "token_type", "embeddings.LayerNorm": "ln",
          "encoder.layer.": "layers.", "attention.self.query": "query", "attention.self.key": "key",
          "attention.self.value": "value", "attention.output.dense": "out",
          "attention.output.LayerNorm": "ln1", "intermediate.dense": "up", "output.dense": "down",
          "output.LayerNorm": "ln2"}


class Layer(nn.Module):
    """Self-attention and the feed-forward block, each with its residual and LayerNorm."""

    def __init__(self, d: int, heads: int, wide: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.out = (nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(d, eps), nn.LayerNorm(d, eps)
        self.up, self.down = nn.Linear(d, wide), nn.Linear(wide, d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        a = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)),
                                           split(self.value(x)), attn_mask=mask)
        x = self.ln1(x + self.out(a.transpose(1, 2).reshape(b, t, d)))
        return self.ln2(x + self.down(F.gelu(self.up(x))))  # BERT's exact (erf) GELU


class Bert(nn.Module):
    """Token ids and attention mask -> the last layer's hidden states."""

    def __init__(self, cfg: dict) -> None:
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.word = nn.Embedding(cfg["vocab_size"], d)
        self.position = nn.Embedding(cfg["max_position_embeddings"], d)
        self.token_type = nn.Embedding(cfg["type_vocab_size"], d)
        self.ln = nn.LayerNorm(d, eps)
        self.layers = nn.ModuleList(Layer(d, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
                                    for _ in range(cfg["num_hidden_layers"]))

    def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.ln(self.word(ids) + self.position(pos)[None] + self.token_type(torch.zeros_like(ids)))
        mask = attention[:, None, None, :].bool()  # attend to real tokens only
        for layer in self.layers:
            x = layer(x, mask)
        return x


def load(path: Path, device: str) -> Bert:
    """The model in ``path`` (config.json, model.safetensors), in eval mode on ``device``."""
    from safetensors.torch import load_file

    from stream.encoders.weights import ModelMissing

    cfg = json.loads((path / "config.json").read_text())
    if cfg.get("hidden_act") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ModelMissing(f"{path}: not the BERT this embedder implements")
    state = {}
    for k, v in load_file(str(path / "model.safetensors")).items():  # tensors only: no code runs
        k = k.removeprefix("bert.")
        if k.startswith("pooler.") or k.endswith("position_ids"):
            continue
        for old, new in RENAME.items():
            k = k.replace(old, new)
        state[k] = v
    net = Bert(cfg)
    net.load_state_dict(state)  # strict: every weight found, none left over
    return net.eval().to(device)
