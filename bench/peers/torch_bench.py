"""PyTorch peer for bench/run.ts: the same cases as bench/cases.ts with torch.set_num_threads(1).

Two modes:
  python3 bench/peers/torch_bench.py [threads] [reps] [budget_ms]
      times every case by itself and prints one JSON object {case name: {"median", "min", "max", "n"}} (ms).
  python3 bench/peers/torch_bench.py --serve [threads]
      prints one JSON line {"torch": version, "threads": n, "cases": [...]}, then answers requests:
      each input line is a case name, each output line the milliseconds of ONE sample of it
      (timed here, so the pipe is not in the figure). bench/run.ts uses this to interleave
      qgrad and PyTorch sample by sample (A B A B ...), so that load from other processes
      hits both sides of a pair alike.
The conv backward cases time only the backward pass (the graph is built once, untimed, and kept
with retain_graph), as qgrad's backward case times only its two gradient kernels.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

serve = len(sys.argv) > 1 and sys.argv[1] == "--serve"
rest = sys.argv[2:] if serve else sys.argv[1:]
threads = int(rest[0]) if len(rest) > 0 else 1
reps = int(rest[1]) if len(rest) > 1 else 9
budget_ms = float(rest[2]) if len(rest) > 2 else 10000.0
torch.set_num_threads(threads)
torch.manual_seed(0)


def cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 40, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(40, 40, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(1000, 10))


def matmul_case(n):
    a, b = torch.randn(n, n), torch.randn(n, n)
    return lambda: torch.mm(a, b)


def conv_forward_case(xs, ws):
    x, w = torch.randn(*xs), torch.randn(*ws)
    return lambda: F.conv2d(x, w)


def conv_backward_case(xs, ws, needs_input):
    x = torch.randn(*xs, requires_grad=needs_input)
    w = torch.randn(*ws, requires_grad=True)
    y = F.conv2d(x, w)
    gy = torch.randn_like(y)

    def run():
        w.grad = None
        x.grad = None
        y.backward(gy, retain_graph=True)
    return run


def train_case():
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
    return step


def infer_case():
    model = cnn()
    xi = torch.randn(100, 1, 28, 28)

    def infer():
        with torch.no_grad():
            for _ in range(10):
                model(xi)
    return infer


CASES = {f"matmul {n}": (lambda n=n: matmul_case(n)) for n in (128, 256, 512, 1024)}
for name, xs, ws in [("conv1", (64, 1, 28, 28), (40, 1, 3, 3)), ("conv2", (64, 40, 13, 13), (40, 40, 3, 3))]:
    CASES[f"{name} forward"] = lambda xs=xs, ws=ws: conv_forward_case(xs, ws)
    CASES[f"{name} backward"] = lambda xs=xs, ws=ws, name=name: conv_backward_case(xs, ws, name != "conv1")
CASES["CNN train step (batch 64)"] = train_case
CASES["CNN inference 1000 images"] = infer_case


def sample(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


if serve:
    print(json.dumps({"torch": torch.__version__, "threads": threads, "cases": list(CASES)}), flush=True)
    ready = {}
    for line in sys.stdin:
        name = line.strip()
        if name not in CASES:
            print(json.dumps({"error": f"unknown case {name!r}"}), flush=True)
            continue
        if name not in ready:
            ready[name] = CASES[name]()
            for _ in range(2):
                ready[name]()
        print(json.dumps({"ms": sample(ready[name])}), flush=True)
    sys.exit(0)

results = {}
for name, make in CASES.items():
    fn = make()
    for _ in range(2):
        fn()
    xs, spent = [], 0.0
    while len(xs) < reps and (not xs or spent < budget_ms):
        dt = sample(fn)
        xs.append(dt)
        spent += dt
    results[name] = {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}
print(json.dumps({"torch": torch.__version__, "threads": threads, "results": results}))
