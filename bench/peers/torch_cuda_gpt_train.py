#!/usr/bin/env python3
"""PyTorch peer of bench/cuda_train_bench.cpp: the GPU training step of octet's GPT at GPT-2-small
width (d_model 768, 12 layers, 12 heads, context 512, byte vocabulary, batch 16, AdamW), on the
same device, in the precisions a PyTorch user has:

  torch_cuda_gpt_train_fp32      fp32 eager, TF32 off (full-precision matmuls)
  torch_cuda_gpt_train_tf32      fp32 eager with TF32 matmuls allowed
  torch_cuda_gpt_train_bf16      bf16 autocast
  torch_cuda_gpt_qat_fp8_bf16    bf16 autocast with eager FP8 E4M3 fake-quant (per-tensor current
                                 scaling, straight-through gradient) of every block Linear's
                                 weight and input: what QAT looks like written by hand in torch

tokens/s = 16 * 512 / median step time (a step is zero_grad + forward + backward + AdamW step +
loss.item(), which waits for the device). Without a CUDA device it prints nothing.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import emit, median_seconds, note  # noqa: E402

BATCH = 16


def fake_quant_fp8(x, torch):
    """E4M3 fake-quant with a per-tensor scale from the tensor's own amax; STE backward."""
    amax = x.detach().abs().amax().float().clamp(min=1e-12)
    scale = 448.0 / amax
    q = (x.float() * scale).to(torch.float8_e4m3fn).float() / scale
    return x + (q.to(x.dtype) - x).detach()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer timed steps")
    args = parser.parse_args()
    import torch
    import torch.nn.functional as F

    if not torch.cuda.is_available():
        note("torch_cuda_gpt_train: no CUDA device; nothing measured")
        return
    from torch_gpt import GPT, GptShape

    shape = GptShape(vocab=256, d_model=768, layers=12, heads=12, context=512)
    warmup, steps = (2, 4) if args.quick else (3, 10)

    class FakeQuantLinear(torch.nn.Module):
        def __init__(self, linear):
            super().__init__()
            self.linear = linear

        def forward(self, x):
            return F.linear(fake_quant_fp8(x, torch), fake_quant_fp8(self.linear.weight, torch),
                            self.linear.bias)

    def quantize_blocks(model):
        # The module list is taken first: the wrappers added below hold Linears of their own.
        for block in list(model.modules()):
            for name, child in list(block.named_children()):
                if isinstance(child, torch.nn.Linear) and child.out_features != shape.vocab:
                    setattr(block, name, FakeQuantLinear(child))

    def tokens_per_second(mode):
        torch.manual_seed(0)
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        model = GPT(shape)
        if mode == "qat_fp8_bf16":
            quantize_blocks(model)
        model = model.cuda()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95),
                                      weight_decay=0.1)
        gen = torch.Generator(device="cuda").manual_seed(1)
        data = torch.randint(0, shape.vocab, (BATCH, shape.context + 1), device="cuda",
                             generator=gen)
        x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()
        bf16 = mode in ("bf16", "qat_fp8_bf16")

        def step():
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x).reshape(-1, shape.vocab), y.reshape(-1))
            loss.backward()
            optimizer.step()
            loss.item()

        seconds = median_seconds(step, warmup, steps)
        note(f"  {mode}: step {seconds * 1e3:.1f} ms")
        return BATCH * shape.context / seconds

    note(f"torch_cuda_gpt_train: {torch.cuda.get_device_name()} torch {torch.__version__}")
    for mode in ("fp32", "tf32", "bf16", "qat_fp8_bf16"):
        emit(f"torch_cuda_gpt_train_{mode}" if mode != "qat_fp8_bf16"
             else "torch_cuda_gpt_qat_fp8_bf16", tokens_per_second(mode), "tokens/s")
    torch.backends.cuda.matmul.allow_tf32 = False


if __name__ == "__main__":
    main()
