"""octet's GPT (framework/models/gpt.h) in PyTorch, layer for layer: the one definition the peer
scripts share.

Byte vocabulary, pre-LN blocks, learned position embeddings, fused qkv projection with bias,
output projection with bias, an MLP with tanh-approximated GELU, LayerNorm (eps 1e-5) with bias,
final LayerNorm, untied lm_head without bias, no dropout; GPT-2's initialisation, as octet's
(N(0, 0.02), residual projections scaled by 1/sqrt(2 * layers), zero biases).
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GptShape:
    vocab: int = 256
    d_model: int = 256
    layers: int = 4
    heads: int = 4
    context: int = 128
    mlp_hidden: int = 0  # 0: 4 * d_model

    @property
    def hidden(self) -> int:
        return self.mlp_hidden or 4 * self.d_model


class CausalSelfAttention(nn.Module):
    def __init__(self, shape: GptShape):
        super().__init__()
        self.shape = shape
        self.qkv = nn.Linear(shape.d_model, 3 * shape.d_model, bias=True)
        self.proj = nn.Linear(shape.d_model, shape.d_model, bias=True)

    def forward(self, x):
        batch, time, d = x.shape
        heads = self.shape.heads
        q, k, v = self.qkv(x).split(d, dim=2)
        # (B, T, C) -> (B, heads, T, head_dim)
        q, k, v = (t.view(batch, time, heads, d // heads).transpose(1, 2) for t in (q, k, v))
        # What a PyTorch user would write today; it picks torch's best CPU attention kernel.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(batch, time, d))


class Block(nn.Module):
    def __init__(self, shape: GptShape):
        super().__init__()
        self.ln1 = nn.LayerNorm(shape.d_model, eps=1e-5, bias=True)
        self.attn = CausalSelfAttention(shape)
        self.ln2 = nn.LayerNorm(shape.d_model, eps=1e-5, bias=True)
        self.fc = nn.Linear(shape.d_model, shape.hidden, bias=True)
        self.fc_proj = nn.Linear(shape.hidden, shape.d_model, bias=True)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, shape: GptShape):
        super().__init__()
        self.shape = shape
        self.token_embedding = nn.Embedding(shape.vocab, shape.d_model)
        self.position_embedding = nn.Embedding(shape.context, shape.d_model)
        self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.layers))
        self.ln_f = nn.LayerNorm(shape.d_model, eps=1e-5, bias=True)
        self.lm_head = nn.Linear(shape.d_model, shape.vocab, bias=False)
        # The logits then have the scale of a real model's, which dynamic quantization's per-call
        # ranges see.
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                residual = name.endswith("proj.weight")
                nn.init.normal_(p, std=0.02 / (2 * shape.layers) ** 0.5 if residual else 0.02)

    def forward(self, tokens):
        """tokens [B, T] -> logits [B, T, vocab]."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))
