"""Sentence embeddings with all-MiniLM-L6-v2: local weights, mean pooling, L2-normalised.

The model is BERT's encoder, six layers of 384 wide, written out in plain torch
(:mod:`stream.encoders.minilm`), loaded from its safetensors file and tokenised by Hugging
Face's ``tokenizers`` (Rust). Why not ``transformers``' ``BertModel``: importing it takes
~2.9 s of CPU (it pulls in torch's compiler and distributed packages), on the text worker's
start-up path, for a 50-line model. Its outputs match ``BertModel``'s to float precision
(tests/encoders/test_text.py).
"""

from __future__ import annotations

import numpy as np

from stream.encoders import weights as models
from stream.modalities.text import EMBED_DIM


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
        from stream.encoders import minilm

        self.model = minilm.load(path, device)
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
