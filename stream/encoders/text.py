"""Sentence embeddings with all-MiniLM-L6-v2 (transformers, local weights, mean pooling)."""

from __future__ import annotations

import numpy as np

from stream.encoders import weights as models
from stream.modalities.text import EMBED_DIM


class TextEmbedder:
    dim = EMBED_DIM

    def __init__(self, device: str = "cpu", max_len: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = models.minilm()
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval().to(device)
        if device.startswith("cuda"):
            self.model.half()
        self.device = device
        self.max_len = max_len

    def __call__(self, texts: list[str], batch: int = 64) -> np.ndarray:
        torch = self.torch
        out = []
        for i in range(0, len(texts), batch):
            enc = self.tok(texts[i:i + batch], padding=True, truncation=True,
                           max_length=self.max_len, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                h = self.model(**enc).last_hidden_state.float()
            m = enc["attention_mask"].unsqueeze(-1).float()
            e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(e, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)
