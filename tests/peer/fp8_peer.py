"""Peer side of tests/peer/fp8_peer_test.cpp: FP8 conversions of ml_dtypes and PyTorch.

Usage: fp8_peer.py FOLDER

The manifest (written by tests/support/peer_python.h) lists cases {name, op, params, inputs},
each with one f32 input "x". For every peer ("mldtypes", "torch") and format ("e4m3", "e5m2") the
script writes <case>.<peer>_<format>.f32, raw little-endian float32:
  op "decode":    x holds codes 0..255; the result is each code's value, read through the peer's
                  float8 dtype.
  op "roundtrip": x holds floats; the result is x cast to the peer's float8 dtype and back to
                  float32. Its value names the code bit-exactly, except for NaN payloads.
Both libraries are used through their ordinary casts (numpy astype, torch .to), i.e. with
whatever overflow rule each library applies; the test decides which octet mode that must match.
"""

import json
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import torch

MLDTYPES = {"e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}
TORCH = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}


def mldtypes_decode(x, fmt):
    return x.astype(np.uint8).view(MLDTYPES[fmt]).astype(np.float32)


def mldtypes_roundtrip(x, fmt):
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(MLDTYPES[fmt]).astype(np.float32)


def torch_decode(x, fmt):
    codes = torch.from_numpy(x.astype(np.uint8))
    return codes.view(TORCH[fmt]).to(torch.float32).numpy()


def torch_roundtrip(x, fmt):
    return torch.from_numpy(x.copy()).to(TORCH[fmt]).to(torch.float32).numpy()


OPS = {
    "decode": {"mldtypes": mldtypes_decode, "torch": torch_decode},
    "roundtrip": {"mldtypes": mldtypes_roundtrip, "torch": torch_roundtrip},
}


def main():
    folder = Path(sys.argv[1])
    torch.set_num_threads(1)
    manifest = json.loads((folder / "manifest.json").read_text())
    for case in manifest["cases"]:
        if case["op"] not in OPS:
            sys.exit(f"fp8_peer.py: case '{case['name']}' has unknown op '{case['op']}'")
        (entry,) = [e for e in case["inputs"] if e["name"] == "x"]
        x = np.fromfile(folder / entry["file"], dtype="<f4")
        for peer, convert in OPS[case["op"]].items():
            for fmt in ("e4m3", "e5m2"):
                result = np.asarray(convert(x, fmt), dtype="<f4")
                if result.shape != x.shape:
                    sys.exit(f"fp8_peer.py: {peer} {fmt} gave shape {result.shape} for {x.shape}")
                result.tofile(folder / f"{case['name']}.{peer}_{fmt}.f32")


if __name__ == "__main__":
    main()
