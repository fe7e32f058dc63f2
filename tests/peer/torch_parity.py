"""PyTorch side of tests/peer/torch_parity_test.cpp: runs each case of FOLDER/manifest.json in
torch (float32, CPU, one thread) and writes the results back into FOLDER.

Usage: torch_parity.py FOLDER

The manifest (written by tests/support/peer_python.h) lists cases {name, op, params, inputs}; each
input is a raw little-endian file of the given dtype (f32 or i64) and shape. For a
differentiable op, the input named "grad_out" is the upstream gradient; the script writes the
output as <case>.out.f32 and, for every input with requires_grad, its gradient as
<case>.grad.<input>.f32. The "adamw" op instead writes the parameters after each step as
<case>.step<k>.<param>.f32. Everything is raw little-endian float32.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FILE_DTYPES = {"f32": np.dtype("<f4"), "i64": np.dtype("<i8")}


def load(folder, entry):
    array = np.fromfile(folder / entry["file"], dtype=FILE_DTYPES[entry["dtype"]])
    return torch.from_numpy(array.reshape(entry["shape"]).copy())


def save(folder, name, tensor):
    array = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4")
    array.tofile(folder / f"{name}.f32")


def matmul(a, b, p):
    if p.get("transpose_a"):
        a = a.transpose(-1, -2)
    if p.get("transpose_b"):
        b = b.transpose(-1, -2)
    return torch.matmul(a, b)


def rms_norm(x, w, p):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + p["eps"]) * w


def rope(x, p):
    """Rotates the pairs (i, i + D/2) of x [B, H, T, D] by angle pos * base^(-2i/D)."""
    d = x.shape[-1]
    half = d // 2
    inv_freq = p["base"] ** (-2.0 * torch.arange(half, dtype=torch.float64) / d)
    positions = torch.arange(x.shape[-2], dtype=torch.float64) + int(p["offset"])
    angle = positions[:, None] * inv_freq[None, :]
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    lo, hi = x[..., :half], x[..., half:]
    return torch.cat([lo * cos - hi * sin, lo * sin + hi * cos], dim=-1)


OPS = {
    "linear": lambda t, p: F.linear(t["x"], t["weight"], t["bias"]),
    "matmul": lambda t, p: matmul(t["a"], t["b"], p),
    "softmax": lambda t, p: torch.softmax(t["x"], dim=-1),
    "log_softmax": lambda t, p: torch.log_softmax(t["x"], dim=-1),
    "cross_entropy": lambda t, p: F.cross_entropy(
        t["logits"], t["targets"], ignore_index=int(p["ignore_index"])),
    "layer_norm": lambda t, p: F.layer_norm(
        t["x"], t["x"].shape[-1:], t["weight"], t["bias"], eps=p["eps"]),
    "rms_norm": lambda t, p: rms_norm(t["x"], t["weight"], p),
    "gelu": lambda t, p: F.gelu(t["x"], approximate="tanh"),
    "silu": lambda t, p: F.silu(t["x"]),
    "conv2d": lambda t, p: F.conv2d(
        t["x"], t["weight"], t["bias"], stride=int(p["stride"]), padding=int(p["padding"])),
    "max_pool2d": lambda t, p: F.max_pool2d(t["x"], int(p["kernel"]), int(p["stride"])),
    "embedding": lambda t, p: F.embedding(t["indices"], t["weight"]),
    "causal_attention": lambda t, p: F.scaled_dot_product_attention(
        t["q"], t["k"], t["v"], is_causal=True),
    "rope": lambda t, p: rope(t["x"], p),
}


def run_differentiable(folder, case, tensors):
    grad_out = tensors.pop("grad_out")
    wants_grad = [e["name"] for e in case["inputs"] if e["requires_grad"]]
    for name in wants_grad:
        tensors[name].requires_grad_(True)
    out = OPS[case["op"]](tensors, case["params"])
    out.backward(grad_out)
    save(folder, f"{case['name']}.out", out)
    for name in wants_grad:
        save(folder, f"{case['name']}.grad.{name}", tensors[name].grad)


def run_adamw(folder, case, tensors):
    """Parameters "param.<name>", gradients "step<k>.<name>" for k = 1..steps."""
    p = case["params"]
    names = [e["name"][len("param."):] for e in case["inputs"] if e["name"].startswith("param.")]
    params = {n: tensors[f"param.{n}"].clone().requires_grad_(True) for n in names}
    optimizer = torch.optim.AdamW(
        list(params.values()), lr=p["lr"], betas=(p["beta1"], p["beta2"]), eps=p["eps"],
        weight_decay=p["weight_decay"], foreach=False)
    for step in range(1, int(p["steps"]) + 1):
        for n in names:
            params[n].grad = tensors[f"step{step}.{n}"].clone()
        optimizer.step()
        for n in names:
            save(folder, f"{case['name']}.step{step}.{n}", params[n])


def main():
    folder = Path(sys.argv[1])
    torch.set_num_threads(1)
    manifest = json.loads((folder / "manifest.json").read_text())
    for case in manifest["cases"]:
        tensors = {e["name"]: load(folder, e) for e in case["inputs"]}
        if case["op"] == "adamw":
            run_adamw(folder, case, tensors)
        elif case["op"] in OPS:
            run_differentiable(folder, case, tensors)
        else:
            sys.exit(f"torch_parity.py: case '{case['name']}' has unknown op '{case['op']}'")


if __name__ == "__main__":
    main()
