"""PyTorch peer for bench/run.ts: the same cases with torch.set_num_threads(1) (or argv[1]).

Prints one JSON object: {case name: {"median", "min", "max", "n"}} in milliseconds.
Usage: python3 bench/peers/torch_bench.py [threads] [reps] [budget_ms]
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 9
budget_ms = float(sys.argv[3]) if len(sys.argv) > 3 else 10000.0
torch.set_num_threads(threads)
torch.manual_seed(0)


def measure(fn, warmup=2):
    for _ in range(warmup):
        fn()
    xs, spent = [], 0.0
    while len(xs) < reps and (not xs or spent < budget_ms):
        t0 = time.perf_counter()
        fn()
        dt = (time.perf_counter() - t0) * 1000.0
        xs.append(dt)
        spent += dt
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


results = {}
for n in (128, 256, 512, 1024):
    a, b = torch.randn(n, n), torch.randn(n, n)
    results[f"matmul {n}"] = measure(lambda: torch.mm(a, b))

convs = [("conv1", (64, 1, 28, 28), (40, 1, 3, 3)), ("conv2", (64, 40, 13, 13), (40, 40, 3, 3))]
for name, xs, ws in convs:
    x, w = torch.randn(*xs), torch.randn(*ws)
    results[f"{name} forward"] = measure(lambda: F.conv2d(x, w))
    xg = torch.randn(*xs, requires_grad=(name != "conv1"))
    wg = torch.randn(*ws, requires_grad=True)
    gy = torch.randn_like(F.conv2d(xg, wg))

    def backward():
        y = F.conv2d(xg, wg)
        y.backward(gy)
    # The forward is part of this sample in PyTorch; subtract its median to compare with qgrad.
    both = measure(backward)
    fwd = results[f"{name} forward"]["median"]
    results[f"{name} backward"] = {k: (v - fwd if k != "n" else v) for k, v in both.items()}


def cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 40, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(40, 40, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(1000, 10))


model = cnn()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
x = torch.randn(64, 1, 28, 28)
y = torch.arange(64) % 10


def step():
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


results["CNN train step (batch 64)"] = measure(step)

xi = torch.randn(100, 1, 28, 28)


def infer():
    with torch.no_grad():
        for _ in range(10):
            model(xi)


results["CNN inference 1000 images"] = measure(infer)
print(json.dumps({"torch": torch.__version__, "threads": threads, "results": results}))
