#!/usr/bin/env python3
"""PyTorch's GEMMs on the GPU at the shapes of bench/cuda_gemm_bench.cpp: BF16 (torch.matmul,
bf16 out) and FP8 E4M3 x E4M3 through torch._scaled_mm (per-tensor scales, bf16 out).

Keys torch_cuda_bf16_gemm_<shape> and torch_cuda_fp8_gemm_<shape>, in TFLOP/s (2*M*N*K per GEMM).
Timed with CUDA events around groups of back-to-back calls after warm-up (median per call). Without a CUDA device (the
CPU peer venv) it prints nothing and exits 0, so the rows that name these keys get peer 'none'.
"""

import argparse
import statistics

from common import emit, note

SHAPES = (("8192", 8192, 8192, 8192), ("4096x4096x4096", 4096, 4096, 4096),
          ("4096x11008x4096", 4096, 11008, 4096))


def median_ms(torch, call, warmup, repeats, groups=5):
    """Milliseconds per call: the median over `groups` event-timed runs of `repeats` back-to-back
    calls, as octet's cuda::time_ms times its side (one call per event pair would count Python's
    launch latency while the GPU waits)."""
    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    times = []
    for _ in range(groups):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            call()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / repeats)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer timed calls")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        note("torch_cuda_gemm: no CUDA device; nothing measured")
        return
    warmup, repeats = (2, 5) if args.quick else (5, 20)
    fp8 = torch.cuda.get_device_capability() >= (8, 9) and hasattr(torch, "_scaled_mm")
    note(f"torch_cuda_gemm: {torch.cuda.get_device_name()} torch {torch.__version__}")
    for name, m, n, k in SHAPES:
        tflops = lambda ms: 2.0 * m * n * k / (ms * 1e-3) / 1e12  # noqa: E731
        # Random data, never zeros (zeros run faster than real operands do).
        a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        emit(f"torch_cuda_bf16_gemm_{name}", tflops(median_ms(torch, lambda: a @ w.t(), warmup,
                                                              repeats)), "TFLOP/s")
        if not fp8:
            continue
        a8, w8 = a.to(torch.float8_e4m3fn), w.to(torch.float8_e4m3fn)
        one = torch.ones((), device="cuda", dtype=torch.float32)
        # _scaled_mm wants its second operand column-major: w8.t() of a row-major [N, K] is.
        call = lambda: torch._scaled_mm(a8, w8.t(), scale_a=one, scale_b=one,  # noqa: E731
                                        out_dtype=torch.bfloat16)
        emit(f"torch_cuda_fp8_gemm_{name}", tflops(median_ms(torch, call, warmup, repeats)),
             "TFLOP/s")


if __name__ == "__main__":
    main()
