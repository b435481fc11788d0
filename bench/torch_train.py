#!/usr/bin/python3
"""PyTorch reference for `hydra train`: same models, data, loss and optimisers.

Prints exactly one JSON object on stdout; progress goes to stderr.
Run with Debian's interpreter (/usr/bin/python3), which has torch + numpy.

Only the training loop (forward, backward, optimiser step) is timed; the data
is decoded into in-memory tensors before the clock starts and evaluation
happens after it stops.
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import time

# numpy and torch are imported in main(), after configure_openblas() has set
# the environment that OpenBLAS reads when torch loads it.
np = torch = nn = None

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def openblas_corename(env):
    """Kernel set OpenBLAS picks under `env` (probed in a child process, since
    OpenBLAS reads its settings once, when the library is loaded)."""
    probe = ("import ctypes\n"
             "l = ctypes.CDLL('libopenblas.so.0')\n"
             "l.openblas_get_corename.restype = ctypes.c_char_p\n"
             "print(l.openblas_get_corename().decode())\n")
    try:
        r = subprocess.run([sys.executable, "-c", probe], env=env,
                           capture_output=True, text=True, timeout=30)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def configure_openblas(threads):
    """Must run before `import torch` loads OpenBLAS.

    torch's Linear layers go through OpenBLAS (Debian links openblas-pthread),
    which has its own thread pool that torch.set_num_threads() does not reach:
    pin it to --threads. OpenBLAS 0.3.21's DYNAMIC_ARCH detection does not know
    newer CPUs (e.g. Emerald Rapids, family 6 model 207) and falls back to SSE3
    "Prescott" kernels, which halves MLP throughput; in that case choose the
    kernel set from the CPU flags. An OPENBLAS_CORETYPE set by the user wins.
    Returns the core OpenBLAS will use (None if OpenBLAS is absent)."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    if os.environ.get("OPENBLAS_CORETYPE"):
        return openblas_corename(os.environ.copy())
    core = openblas_corename(os.environ.copy())
    if core is not None and core.lower() in ("prescott", "core2", "nehalem", "sandybridge"):
        flags = cpu_flags()
        if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
            wanted = "SkylakeX"
        elif {"avx2", "fma"} <= flags:
            wanted = "Haswell"
        else:
            wanted = None
        if wanted:
            os.environ["OPENBLAS_CORETYPE"] = wanted
            log(f"OpenBLAS detected core {core!r} on a CPU with "
                f"{'AVX-512' if wanted == 'SkylakeX' else 'AVX2'}; "
                f"using OPENBLAS_CORETYPE={wanted}")
            core = openblas_corename(os.environ.copy()) or wanted
    return core


def read_idx(path):
    """Decode a (gzipped) IDX file into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    data = np.frombuffer(raw, dtype=np.uint8, offset=offset)
    expected = int(np.prod(dims))
    if data.size != expected:
        raise ValueError(f"{path}: {data.size} bytes of data, header says {expected}")
    return data.reshape(dims)


def find_file(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{stem}(.gz) not found in {data_dir}")


def load_split(data_dir, prefix):
    images = read_idx(find_file(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find_file(data_dir, f"{prefix}-labels-idx1-ubyte"))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{prefix}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # N,1,28,28
    y = torch.from_numpy(labels.astype(np.int64))
    return x.contiguous(), y.contiguous()


def make_model(kind):
    if kind == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, 10),
        )
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(3136, 1024), nn.ReLU(),
            nn.Linear(1024, 10),
        )
    raise ValueError(f"unknown model {kind}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--standardize", action="store_true",
                    help="(x - mean) / std with the training set's pixel mean and std "
                         "(torchvision's Normalize; hydra's default)")
    # Hidden: stop after this many optimiser steps in total (smoke tests).
    ap.add_argument("--max-steps", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.epochs < 1 or args.batch < 1 or args.threads < 1:
        ap.error("--epochs, --batch and --threads must be >= 1")

    blas_core = configure_openblas(args.threads)
    global np, torch, nn
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    t0 = time.perf_counter()
    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    log(f"loaded {len(x_train)} train / {len(x_test)} test samples "
        f"in {time.perf_counter() - t0:.2f}s")
    mean, std = 0.0, 1.0
    if args.standardize:
        mean = float(x_train.double().mean())
        std = float(x_train.double().std(unbiased=False))
        x_train = ((x_train - mean) / std).contiguous()
        x_test = ((x_test - mean) / std).contiguous()
        log(f"standardised: mean {mean:.4f}, std {std:.4f}")

    model = make_model(args.model)
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.0)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss(reduction="mean")

    n = len(x_train)
    gen = torch.Generator().manual_seed(args.seed)
    train_seconds = 0.0
    samples = 0
    steps = 0
    final_loss = float("nan")
    stop = False
    model.train()
    for epoch in range(args.epochs):
        # The permutation and batch gathering are part of an epoch's work,
        # as they are for Hydra's loader; they are cheap next to the model.
        t_epoch = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        loss_sum = torch.zeros((), dtype=torch.float64)
        epoch_samples = 0
        for start in range(0, n, args.batch):  # last short batch is kept
            idx = perm[start:start + args.batch]
            xb = x_train.index_select(0, idx)
            yb = y_train.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            bs = len(idx)
            # Sample-weighted so the epoch mean is exact with a short last batch.
            loss_sum += loss.detach().double() * bs
            epoch_samples += bs
            steps += 1
            if args.max_steps and steps >= args.max_steps:
                stop = True
                break
        dt = time.perf_counter() - t_epoch
        train_seconds += dt
        samples += epoch_samples
        final_loss = float(loss_sum) / epoch_samples
        log(f"epoch {epoch + 1}/{args.epochs}: loss {final_loss:.4f}, "
            f"{epoch_samples} samples in {dt:.2f}s ({epoch_samples / dt:.0f} samples/s)")
        if stop:
            log(f"stopped after --max-steps {args.max_steps}")
            break

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x_test), 1000):
            out = model(x_test[start:start + 1000])
            correct += int((out.argmax(1) == y_test[start:start + 1000]).sum())
    acc = correct / len(x_test)
    log(f"test accuracy {acc * 100:.2f}%")

    print(json.dumps({
        "model": args.model,
        "epochs": args.epochs,
        "batch": args.batch,
        "threads": args.threads,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "train_samples": samples,
        "train_seconds": round(train_seconds, 6),
        "train_samples_per_second": round(samples / train_seconds, 3),
        "test_accuracy": acc,
        "standardize": args.standardize,
        "input_mean": mean,
        "input_std": std,
        "final_loss": final_loss,
        "torch_version": torch.__version__,
        "openblas_core": blas_core,
    }))


if __name__ == "__main__":
    main()
