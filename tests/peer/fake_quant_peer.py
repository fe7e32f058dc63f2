"""PyTorch side of tests/peer/fake_quant_peer_test.cpp: PyTorch's fake-quant ops on the inputs
the test wrote (see tests/support/peer_python.h for the exchange).

Usage: fake_quant_peer.py FOLDER

Ops (case["op"]), all float32 on the CPU:
  fq_tensor    torch.fake_quantize_per_tensor_affine(x, scale, zero_point, qmin, qmax)
  fq_channel   torch.fake_quantize_per_channel_affine(x, scale, zero_point, axis, qmin, qmax)
  lsq_tensor   torch._fake_quantize_learnable_per_tensor_affine(x, scale, zero_point, qmin, qmax,
               grad_factor)
  lsq_channel  torch._fake_quantize_learnable_per_channel_affine(..., axis, ...)
For each case the output is written as <case>.out.f32 and, after backward of the upstream
gradient "grad_out", the gradient of every input with requires_grad as <case>.grad.<input>.f32.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

FILE_DTYPES = {"f32": np.dtype("<f4"), "i64": np.dtype("<i8")}


def load(folder, entry):
    array = np.fromfile(folder / entry["file"], dtype=FILE_DTYPES[entry["dtype"]])
    return torch.from_numpy(array.reshape(entry["shape"]).copy())


def save(folder, name, tensor):
    tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(
        folder / f"{name}.f32")


def run(t, p, op):
    qmin, qmax = int(p["qmin"]), int(p["qmax"])
    if op == "fq_tensor":
        return torch.fake_quantize_per_tensor_affine(
            t["x"], float(t["scale"].item()), int(t["zero_point"].item()), qmin, qmax)
    if op == "fq_channel":
        return torch.fake_quantize_per_channel_affine(
            t["x"], t["scale"], t["zero_point"].to(torch.int32), int(p["axis"]), qmin, qmax)
    if op == "lsq_tensor":
        return torch._fake_quantize_learnable_per_tensor_affine(
            t["x"], t["scale"], t["zero_point"], qmin, qmax, p["grad_factor"])
    if op == "lsq_channel":
        return torch._fake_quantize_learnable_per_channel_affine(
            t["x"], t["scale"], t["zero_point"], int(p["axis"]), qmin, qmax, p["grad_factor"])
    sys.exit(f"fake_quant_peer.py: unknown op '{op}'")


def main():
    folder = Path(sys.argv[1])
    torch.set_num_threads(1)
    manifest = json.loads((folder / "manifest.json").read_text())
    for case in manifest["cases"]:
        tensors = {e["name"]: load(folder, e) for e in case["inputs"]}
        grad_out = tensors.pop("grad_out")
        wants_grad = [e["name"] for e in case["inputs"] if e["requires_grad"]]
        for name in wants_grad:
            tensors[name].requires_grad_(True)
        out = run(tensors, case["params"], case["op"])
        out.backward(grad_out)
        save(folder, f"{case['name']}.out", out)
        for name in wants_grad:
            save(folder, f"{case['name']}.grad.{name}", tensors[name].grad)


if __name__ == "__main__":
    main()
