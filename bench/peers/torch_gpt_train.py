"""PyTorch peer of octet's GPT training benchmark: the same model, optimizer and batch, timed on the CPU.

The model is octet's benchmark GPT, layer for layer: byte vocabulary (256), d_model 256, 4 pre-LN
blocks with 4 heads, context 128, learned position embeddings, fused qkv projection with bias,
output projection with bias, 4x MLP with tanh-approximated GELU, LayerNorm (eps 1e-5) with bias,
final LayerNorm, untied lm_head without bias, no dropout. AdamW (lr 3e-4, betas 0.9/0.95, weight
decay 0.1 on every parameter), mean cross-entropy, batch 16.

One training step is zero_grad + forward + backward + optimizer step; tokens/s = 16*128 / median
step time. Measured in fp32 eager and under bf16 autocast, for each thread count. torch's fp32 and
bf16 GEMM rates at 1024^3 are printed too, as a yardstick for the machine.

Output: one JSON line per measurement on stdout (see common.py), e.g.
  {"key": "torch_gpt_train_fp32_1t", "value": 1234.5, "unit": "tokens/s"}
"""

import argparse
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common import (add_timing_arguments, emit, median_seconds, note, timing_plan,  # noqa: E402
                    warn_if_busy)
from torch_gpt import GPT, GptShape  # noqa: E402

SHAPE = GptShape(vocab=256, d_model=256, layers=4, heads=4, context=128)
VOCAB = SHAPE.vocab
CONTEXT = SHAPE.context
BATCH = 16
GEMM_SIZE = 1024


def training_step_tokens_per_second(precision, warmup, steps):
    torch.manual_seed(0)
    model = GPT(SHAPE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    # Random bytes stand in for text: the step time does not depend on the values.
    data = torch.randint(0, VOCAB, (BATCH, CONTEXT + 1), generator=torch.Generator().manual_seed(1))
    tokens, targets = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    losses = []

    def step():
        optimizer.zero_grad(set_to_none=True)
        if precision == "bf16":
            autocast = torch.autocast("cpu", dtype=torch.bfloat16)
        else:
            autocast = contextlib.nullcontext()
        with autocast:
            loss = F.cross_entropy(model(tokens).reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    parameters = sum(p.numel() for p in model.parameters())
    seconds = median_seconds(step, warmup, steps)
    # A model that trains on one repeated batch must lower its loss; if not, the timing is of a
    # broken step.
    if not losses[-1] < losses[0]:
        raise RuntimeError(f"{precision}: loss did not fall ({losses[0]:.4f} -> {losses[-1]:.4f})")
    note(f"  {precision}: {parameters} parameters, step {seconds * 1e3:.1f} ms, loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    return BATCH * CONTEXT / seconds


def bf16_is_native():
    """True where the CPU has bf16 instructions (AVX512-BF16 or AMX), so oneDNN's fast path runs."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def gemm_gflops(dtype, warmup, steps):
    generator = torch.Generator().manual_seed(2)
    a = torch.randn(GEMM_SIZE, GEMM_SIZE, generator=generator).to(dtype)
    b = torch.randn(GEMM_SIZE, GEMM_SIZE, generator=generator).to(dtype)
    out = torch.empty(GEMM_SIZE, GEMM_SIZE, dtype=dtype)
    seconds = median_seconds(lambda: torch.mm(a, b, out=out), warmup, steps)
    return 2.0 * GEMM_SIZE**3 / seconds / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_arguments(parser, default_steps=10)
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="comma-separated subset of fp32,bf16 (default both)")
    parser.add_argument("--no-gemm", action="store_true", help="skip the GEMM yardstick")
    args = parser.parse_args()
    warmup, steps = timing_plan(args)
    precisions = [p for p in args.precisions.split(",") if p]
    if not precisions or any(p not in ("fp32", "bf16") for p in precisions):
        parser.error(f"--precisions takes fp32 and/or bf16, not '{args.precisions}'")

    # Inter-op parallelism would add threads beyond the count under test.
    torch.set_num_interop_threads(1)
    note(f"torch {torch.__version__}, {steps} timed steps after {warmup} warm-up")
    warn_if_busy()
    for threads in args.threads:
        torch.set_num_threads(threads)
        note(f"{threads} thread(s):")
        for precision in precisions:
            # Without native bf16 (AVX2-only CPUs) torch's bf16 path runs ~25x slower than fp32:
            # a few steps measure it well enough and keep `make bench` short.
            slow = precision == "bf16" and not bf16_is_native()
            tokens_per_second = training_step_tokens_per_second(
                precision, 1 if slow else warmup, min(steps, 3) if slow else steps)
            emit(f"torch_gpt_train_{precision}_{threads}t", tokens_per_second, "tokens/s")
        if not args.no_gemm:
            for name in precisions:
                dtype = torch.float32 if name == "fp32" else torch.bfloat16
                slow = name == "bf16" and not bf16_is_native()
                gemm_steps = 2 if slow else (steps if args.quick else max(steps, 10))
                gflops = gemm_gflops(dtype, 1 if slow else warmup, gemm_steps)
                note(f"  {name} GEMM {GEMM_SIZE}^3: {gflops:.1f} GFLOP/s")
                emit(f"torch_gemm_{name}_{GEMM_SIZE}_{threads}t", gflops, "GFLOP/s")


if __name__ == "__main__":
    main()
