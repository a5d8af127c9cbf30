"""The sentence embedder: all-MiniLM-L6-v2 in plain torch, against transformers' BertModel."""

import subprocess
import sys

import numpy as np
import pytest

from stream.encoders import weights
from stream.encoders.text import TextEmbedder

pytestmark = pytest.mark.integration
SENTENCES = ["turn on the kitchen lights", "What's the weather like?", "", "a " * 100,
             "Décroître la lumière: 21.5 °C!", "set a timer for five minutes", "x"]


def reference(texts: list[str], max_len: int = 64) -> np.ndarray:
    """What transformers' BertModel gives (mean-pooled, normalised), as the embedder did before."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = weights.minilm()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    enc = tok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    with torch.inference_mode():
        h = model(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()


def test_embeddings_match_transformers_bert_model():
    ours = TextEmbedder()(SENTENCES)
    assert ours.shape == (len(SENTENCES), 384) and ours.dtype == np.float32
    assert np.abs(ours - reference(SENTENCES)).max() < 1e-5  # padding and truncation included
    one = TextEmbedder()(["turn on the kitchen lights"])  # alone: no padding, the same vector
    assert np.abs(one[0] - ours[0]).max() < 1e-5
    assert TextEmbedder()([]).shape == (0, 384)


def test_the_embedder_never_imports_transformers():
    code = ("import sys; from stream.encoders.text import TextEmbedder; TextEmbedder()(['hi']); "
            "print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
