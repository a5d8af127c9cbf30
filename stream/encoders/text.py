"""Sentence embeddings with all-MiniLM-L6-v2: local weights, mean pooling, L2-normalised.

The model is BERT's encoder, six layers of 384 wide: written out here in plain torch and
loaded from its safetensors file, tokenised by Hugging Face's ``tokenizers`` (Rust). Why not
``transformers``' ``BertModel``: importing it takes ~2.9 s of CPU (it pulls in torch's
compiler and distributed packages), on the text worker's start-up path, for a 30-line model.
Its outputs match ``BertModel``'s to float precision (tests/encoders/test_text.py).
"""

from __future__ import annotations

import json

import numpy as np

from stream.encoders import weights as models
from stream.modalities.text import EMBED_DIM


def _bert(path, device: str):
    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_file
    from torch import nn

    cfg = json.loads((path / "config.json").read_text())
    d, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    if cfg.get("hidden_act") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise models.ModelMissing(f"{path}: not the BERT this embedder implements")

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query, self.key, self.value, self.out = (nn.Linear(d, d) for _ in range(4))
            self.ln1, self.ln2 = nn.LayerNorm(d, eps), nn.LayerNorm(d, eps)
            wide = cfg["intermediate_size"]
            self.up, self.down = nn.Linear(d, wide), nn.Linear(wide, d)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            b, t, _ = x.shape

            def split(y: torch.Tensor) -> torch.Tensor:
                return y.view(b, t, heads, d // heads).transpose(1, 2)

            a = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)),
                                               split(self.value(x)), attn_mask=mask)
            x = self.ln1(x + self.out(a.transpose(1, 2).reshape(b, t, d)))
            return self.ln2(x + self.down(F.gelu(self.up(x))))

    class Bert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word = nn.Embedding(cfg["vocab_size"], d)
            self.position = nn.Embedding(cfg["max_position_embeddings"], d)
            self.token_type = nn.Embedding(cfg["type_vocab_size"], d)
            self.ln = nn.LayerNorm(d, eps)
            self.layers = nn.ModuleList(Layer() for _ in range(cfg["num_hidden_layers"]))

        def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
            pos = torch.arange(ids.shape[1], device=ids.device)
            x = self.ln(self.word(ids) + self.position(pos)[None] + self.token_type(torch.zeros_like(ids)))
            mask = attention[:, None, None, :].bool()  # attend to real tokens only
            for layer in self.layers:
                x = layer(x, mask)
            return x

    # BertModel's names -> ours (the pooler is not used: sentence embeddings mean-pool).
    rename = {"embeddings.word_embeddings": "word", "embeddings.position_embeddings": "position",
              "embeddings.token_type_embeddings": "token_type", "embeddings.LayerNorm": "ln",
              "attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
              "attention.output.dense": "out", "attention.output.LayerNorm": "ln1",
              "intermediate.dense": "up", "output.dense": "down", "output.LayerNorm": "ln2"}
    state = {}
    for k, v in load_file(str(path / "model.safetensors")).items():  # tensors only: no code runs
        k = k.removeprefix("bert.").replace("encoder.layer.", "layers.")
        if k.startswith("pooler.") or k.endswith("position_ids"):
            continue
        for old, new in rename.items():
            k = k.replace(old, new)
        state[k] = v
    net = Bert()
    net.load_state_dict(state)  # strict: every weight found, none left over
    return net.eval().to(device)


class TextEmbedder:
    dim = EMBED_DIM

    def __init__(self, device: str = "cpu", max_len: int = 64) -> None:
        import torch
        from tokenizers import Tokenizer

        path = models.minilm()
        self.torch = torch
        self.tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tok.enable_truncation(max_len)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self.model = _bert(path, device)
        if device.startswith("cuda"):
            self.model.half()
        self.device = device

    def __call__(self, texts: list[str], batch: int = 64) -> np.ndarray:
        torch = self.torch
        out = []
        for i in range(0, len(texts), batch):
            enc = self.tok.encode_batch(texts[i:i + batch])
            ids = torch.tensor([e.ids for e in enc], device=self.device)
            m = torch.tensor([e.attention_mask for e in enc], device=self.device)
            with torch.inference_mode():
                h = self.model(ids, m).float()
            mf = m.unsqueeze(-1).float()
            e = (h * mf).sum(1) / mf.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(e, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)
