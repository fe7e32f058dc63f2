"""PyTorch peer of octet's runtime benchmark: prefill of the runtime GPT in fp32 and int8 dynamic.

The model is bench/runtime_bench.cpp's GPT, layer for layer: byte vocabulary (256), d_model 512,
4 pre-LN blocks with 8 heads, context 256, MLP hidden 2048, learned position embeddings, fused qkv
projection with bias, output projection with bias, tanh-approximated GELU, LayerNorm (eps 1e-5)
with bias, final LayerNorm, untied lm_head without bias. Random init (seeded), eval mode.

A prefill is one forward pass of batch 4 x 256 random tokens that returns the logits of every
position, under torch.inference_mode(). It is timed for the fp32 model and for
torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8): every Linear,
lm_head included, gets int8 per-tensor weights and activations quantized per call (torch's
default dynamic qconfig; on x86 its engine is fbgemm, whose AVX2 kernels keep activations to
7 bits, reduce_range, so that VPMADDUBSW cannot saturate). Attention, norms and GELU stay fp32,
as in octet's runtime. tokens/s = 4 * 256 / median prefill time.

Output: one JSON line per measurement on stdout (see common.py), e.g.
  {"key": "torch_prefill_int8_dynamic_2t", "value": 1234.5, "unit": "tokens/s"}
"""

import argparse
import copy
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from common import (add_timing_arguments, emit, median_seconds, note, timing_plan,  # noqa: E402
                    warn_if_busy)
from torch_gpt import GPT, GptShape  # noqa: E402

SHAPE = GptShape(vocab=256, d_model=512, layers=4, heads=8, context=256, mlp_hidden=2048)
VOCAB = SHAPE.vocab
CONTEXT = SHAPE.context
BATCH = 4


def prefill_tokens_per_second(model, tokens, warmup, steps):
    with torch.inference_mode():
        seconds = median_seconds(lambda: model(tokens), warmup, steps)
    return tokens.numel() / seconds


def max_relative_error(reference, other):
    return ((reference - other).abs().max() / reference.abs().max()).item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_arguments(parser, default_steps=15)
    parser.set_defaults(threads=[2])
    args = parser.parse_args()
    warmup, steps = timing_plan(args)

    torch.set_num_interop_threads(1)
    note(f"torch {torch.__version__}, quantized engine {torch.backends.quantized.engine}, "
         f"{steps} timed prefills after {warmup} warm-up")
    warn_if_busy()
    torch.manual_seed(0)
    fp32 = GPT(SHAPE).eval()
    with warnings.catch_warnings():
        # torch deprecates its quantized tensor creation in favour of torchao; the API is still
        # what a PyTorch user of this version calls.
        warnings.simplefilter("ignore")
        int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32), {nn.Linear},
                                                      dtype=torch.qint8)
    tokens = torch.randint(0, VOCAB, (BATCH, CONTEXT), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        error = max_relative_error(fp32(tokens), int8(tokens))
    # A quantized model whose logits left the fp32 ones would be timing a broken path.
    if not error < 0.2:
        raise RuntimeError(f"int8 dynamic logits differ from fp32 by {error:.3f} (max, relative)")
    note(f"  int8 dynamic vs fp32 logits: max relative error {error:.4f}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, model in (("fp32", fp32), ("int8_dynamic", int8)):
            rate = prefill_tokens_per_second(model, tokens, warmup, steps)
            note(f"  {threads} thread(s) {name}: {rate:.0f} tokens/s")
            emit(f"torch_prefill_{name}_{threads}t", rate, "tokens/s")


if __name__ == "__main__":
    main()
