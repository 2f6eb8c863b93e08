#!/usr/bin/python3
"""vit_ddp.py -- the reference for bench/compare.sh: vit-train's ViT in plain, idiomatic PyTorch,
trained data-parallel with torch DistributedDataParallel (gloo on CPUs, NCCL on GPUs).

It reads the same INI config as build/vit-train (model.*, optim.*, train.*, data.*; the rest is
accepted and ignored) with the same --section.key VALUE overrides, reads the same IDX files (raw or
.gz), and writes epoch lines shaped like vit-train's to <run dir>/metrics.jsonl from rank 0.

Launch (one rank per process):
    /usr/bin/python3 bench/reference/vit_ddp.py --config configs/mnist.ini --run-dir /tmp/ref
    mpirun -n 2 -x MASTER_PORT=29511 /usr/bin/python3 bench/reference/vit_ddp.py --config ...
    torchrun --nproc-per-node 2 bench/reference/vit_ddp.py --config ...
Rank and world come from OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE} (mpirun), else from
RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE (torchrun), else a job of one rank. The rendezvous is
env:// at MASTER_ADDR (default 127.0.0.1) and MASTER_PORT (default 29500).

What matches vit-train on purpose (so that a speed difference is the frameworks', not the job's):
  model     the same modules, parameter names, shapes and construction order, so with the same
            train.seed the initial parameters are the same numbers (torch.manual_seed, then the
            default nn.Linear init, class token from U[0,1)); fixed sin/cos positions in a buffer
  loss      logits + cross-entropy (mean over the micro-batch; micro-batches weighted by size)
  data      the whole split in memory as one uint8 tensor; batches gathered by index, scaled to
            [0, 1]; no DataLoader, no worker processes
  sampler   DistributedSampler policy: one permutation per epoch, rank r takes positions r, r+N,
            ... with wrap-around padding; torch.randperm seeded with seed + epoch (as PyTorch's
            DistributedSampler), or with --order vit exactly vit-train's permutation
  optimizer adam | adamw | sgd with vit-train's settings; linear warm-up, constant or cosine
            decay to min_lr_ratio * lr over the run's steps (LambdaLR, stepped once per step)
  threads   torch.set_num_threads(cores // ranks on this machine) unless train.threads > 0;
            OpenBLAS pinned to one thread (OPENBLAS_NUM_THREADS=1 unless set), as vit-train does
  metrics   images_per_s = all ranks' training images / rank 0's training time of the epoch
            (evaluation excluded); evaluation shards the test set over the ranks
Differences: DDP wraps the model also on one rank (its per-step hooks are part of what is
measured); the all-reduce is DDP's bucketed, overlapped one instead of one fused buffer.
"""

import os

# Before torch is imported: Debian's torch calls OpenBLAS for its matrix products, and OpenBLAS
# would start its own thread pool under torch's (vit-train pins it to one thread for that reason).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import configparser
import contextlib
import gzip
import json
import math
import socket
import sys
import time
from datetime import timedelta

# elapsed_s counts from here, before torch is imported: like vit-train's, from the start of the
# process (importing torch, loading data and setting up DDP are part of a user's wait).
PROCESS_START = time.monotonic()

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

PROCESS_START = time.monotonic()

# ----------------------------------------------------------------------------- config

# vit-train's keys and defaults (src/config/train_config.h). Sections other than these four are
# accepted and ignored (dist.*, checkpoint.*, log.*: nothing here uses them).
DEFAULTS = {
    "model": {"n_patches": 7, "hidden_d": 8, "n_heads": 2, "n_blocks": 2, "mlp_ratio": 4},
    "optim": {"name": "adam", "lr": 0.005, "weight_decay": 0.0, "beta1": 0.9, "beta2": 0.999,
              "momentum": 0.9, "schedule": "constant", "warmup_steps": 0, "min_lr_ratio": 0.0,
              "lr_scaling": "none"},
    "train": {"epochs": 5, "batch_size": 128, "eval_batch_size": 1000, "accum_steps": 1,
              "max_steps": 0, "seed": 42, "threads": 0, "eval_every_steps": 0},
    "data": {"dataset": "mnist", "dir": "", "train_limit": 0, "test_limit": 0},
}


class ConfigError(Exception):
    pass


class Config:
    """Sections as attributes: cfg.model.hidden_d, cfg.optim.lr, ..."""

    def __init__(self, values):
        for section, keys in values.items():
            setattr(self, section, argparse.Namespace(**keys))

    def items(self):
        for section in DEFAULTS:
            for key, value in vars(getattr(self, section)).items():
                yield f"{section}.{key}", value


def set_key(values, dotted, text, where):
    section, _, key = dotted.partition(".")
    if section not in DEFAULTS:
        return  # dist.*, checkpoint.*, log.*, ...: vit-train's, not the reference's
    if key not in DEFAULTS[section]:
        raise ConfigError(f"{where}: unknown key {dotted}")
    kind = type(DEFAULTS[section][key])
    try:
        values[section][key] = kind(text.strip())
    except ValueError:
        raise ConfigError(f"{dotted}: '{text}' is not a valid {kind.__name__} ({where})") from None


def load_config(path, overrides):
    values = {section: dict(keys) for section, keys in DEFAULTS.items()}
    if path:
        # Boost's INI parser (vit-train's) treats '#' anywhere as the start of a comment.
        parser = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
        try:
            with open(path) as f:
                parser.read_file(f)
        except (OSError, configparser.Error) as e:
            raise ConfigError(f"{path}: {e}") from None
        for section in parser.sections():
            for key, text in parser.items(section):
                set_key(values, f"{section}.{key}", text, path)
    for dotted, text in overrides:
        set_key(values, dotted, text, "command line")
    cfg = Config(values)
    m, o, t, d = cfg.model, cfg.optim, cfg.train, cfg.data
    checks = [
        (min(m.n_patches, m.hidden_d, m.n_heads, m.n_blocks, m.mlp_ratio) > 0,
         "model.*: must be positive integers"),
        (m.hidden_d % m.n_heads == 0,
         f"model.hidden_d: {m.hidden_d} is not divisible by model.n_heads = {m.n_heads}"),
        (o.name in ("adam", "adamw", "sgd"), f"optim.name: unknown value '{o.name}'"),
        (o.lr > 0, f"optim.lr: must be > 0, got {o.lr}"),
        (o.schedule in ("constant", "cosine"), f"optim.schedule: unknown value '{o.schedule}'"),
        (o.lr_scaling in ("none", "linear"), f"optim.lr_scaling: unknown value '{o.lr_scaling}'"),
        (min(t.epochs, t.batch_size, t.eval_batch_size, t.accum_steps) > 0,
         "train.epochs, batch_size, eval_batch_size, accum_steps: must be positive"),
        (d.dataset in ("mnist", "fashion-mnist"), f"data.dataset: unknown value '{d.dataset}'"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if not d.dir:
        d.dir = os.path.join("data", d.dataset)
    return cfg


def parse_args(argv):
    """--config FILE, --run-dir DIR, the reference's own options, and --section.key VALUE (or
    --section.key=VALUE) overrides as vit-train takes them."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="", help="INI file (vit-train's format)")
    ap.add_argument("--run-dir", default="runs/ref-latest", help="metrics.jsonl and config.ini")
    ap.add_argument("--order", choices=("torch", "vit"), default="torch",
                    help="per-epoch permutation: torch.randperm(seed + epoch) like "
                         "DistributedSampler (default), or vit-train's exact one")
    ap.add_argument("--stop-at-acc", type=float, default=0.0,
                    help="end training after the first epoch with test_acc >= this (0: off)")
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS",
                    help="instead of training: profile STEPS training steps (after 10 warm-up "
                         "steps) with torch.profiler, print the top ops by self CPU time, exit")
    ap.add_argument("--profile-out", default="", help="also write the profile table here")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the DDP model (torch 2.x, inductor); compiling happens "
                         "in the first steps and counts in the first epoch's time")
    ap.add_argument("--compile-mode", default="default",
                    choices=("default", "reduce-overhead", "max-autotune"),
                    help="torch.compile's mode; reduce-overhead replays CUDA graphs on a GPU")
    ap.add_argument("--fused-adam", action="store_true",
                    help="Adam/AdamW with fused=True (one kernel for all parameters; torch >= 2.4 "
                         "on CPUs), PyTorch's fastest optimizer variant")
    ap.add_argument("--save-init", default="", help="rank 0 saves the initial state_dict here")
    ap.add_argument("--save-final", default="", help="rank 0 saves the final state_dict here")
    args, rest = ap.parse_known_args(argv)
    overrides = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if not arg.startswith("--") or "." not in arg:
            ap.error(f"unrecognised argument: {arg}")
        if "=" in arg:
            key, value = arg[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(rest):
                ap.error(f"{arg} needs a value")
            key, value = arg[2:], rest[i + 1]
            i += 2
        overrides.append((key, value))
    return args, overrides


# ----------------------------------------------------------------------------- data

IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 0x00000803, 0x00000801


def read_idx(path, magic):
    """An IDX file (raw or gzip) as a uint8 tensor of the dimensions its header gives."""
    with open(path, "rb") as f:
        raw = f.read()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        raise ConfigError(f"{path}: bad magic number for an IDX file (expected {magic:#010x})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if len(data) != header + math.prod(dims):
        raise ConfigError(f"{path}: file length does not match its header {dims}")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(dims)


def find_idx(directory, base):
    for name in (base + ".gz", base):  # vit-train prefers the compressed file when both exist
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise ConfigError(f"{os.path.join(directory, base)}[.gz]: no such file "
                      "(fetch the data with launch/get-data.sh, or set data.dir)")


def load_split(directory, prefix, limit):
    """(count, 1, rows, cols) uint8 images and (count,) int64 labels."""
    images = read_idx(find_idx(directory, f"{prefix}-images-idx3-ubyte"), IDX_IMAGES_MAGIC)
    labels = read_idx(find_idx(directory, f"{prefix}-labels-idx1-ubyte"), IDX_LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise ConfigError(f"{directory}: {images.shape[0]} {prefix} images but "
                          f"{labels.shape[0]} labels")
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    return images.unsqueeze(1).contiguous(), labels.long()


def gather(images_u8, labels, indices):
    """A batch by index: float images in [0, 1] (as ToTensor() scales them) and labels."""
    return images_u8.index_select(0, indices).float().div_(255.0), labels.index_select(0, indices)


def torch_permutation(n, seed, epoch):
    g = torch.Generator()
    g.manual_seed(seed + epoch)
    return torch.randperm(n, generator=g)


def vit_permutation(n, seed, epoch):
    """vit-train's permutation (src/data/sampler.cpp): Fisher-Yates driven by splitmix64 keyed by
    (seed, epoch), Lemire's unbiased bounded draw. Plain Python; ~0.1 s for 60,000."""
    mask = (1 << 64) - 1
    state = ((seed * 0x100000001B3) & mask) ^ epoch

    def splitmix64():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    splitmix64()
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        bound = i + 1
        threshold = ((1 << 64) - bound) % bound
        while True:
            m = splitmix64() * bound
            if (m & mask) >= threshold:
                j = m >> 64
                break
        perm[i], perm[j] = perm[j], perm[i]
    return torch.tensor(perm, dtype=torch.long)


def shard(perm, rank, world):
    """DistributedSampler(drop_last=False): pad by wrapping to the start, take rank::world."""
    total = math.ceil(len(perm) / world) * world
    if total > len(perm):
        perm = torch.cat([perm, perm[: total - len(perm)]])
    return perm[rank:total:world]


# ----------------------------------------------------------------------------- model


# The module itself is the one shipped for users' own code (src/python/vit_model.py): the model
# this script trains is the model an exported file loads into.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src",
                                "python"))
from vit_model import VisionTransformer  # noqa: E402


# ----------------------------------------------------------------------------- optimizer


def make_optimizer(o, params, lr, fused=False):
    # fused: PyTorch's one-kernel Adam/AdamW (CPU support since torch 2.4); None keeps the default.
    extra = {"fused": True} if fused else {}
    if o.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay,
                                **extra)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(o.beta1, o.beta2),
                                 weight_decay=o.weight_decay, **extra)
    return torch.optim.SGD(params, lr=lr, momentum=o.momentum, weight_decay=o.weight_decay)


def lr_factor(o, step, total_steps):
    """Multiplier of the peak lr at 0-based step `step` (src/train/optimizer.cpp)."""
    if step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - o.warmup_steps) / max(1, total_steps - o.warmup_steps))
    return o.min_lr_ratio + 0.5 * (1.0 - o.min_lr_ratio) * (1.0 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------- distributed


def world_from_env():
    """(rank, world, local_rank, local_world) from mpirun, torchrun, or a job of one rank."""
    env = os.environ
    if "OMPI_COMM_WORLD_RANK" in env:
        return (int(env["OMPI_COMM_WORLD_RANK"]), int(env["OMPI_COMM_WORLD_SIZE"]),
                int(env["OMPI_COMM_WORLD_LOCAL_RANK"]), int(env["OMPI_COMM_WORLD_LOCAL_SIZE"]))
    if "RANK" in env and "WORLD_SIZE" in env:
        local_world = int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"]))
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)), local_world
    return 0, 1, 0, 1


def log(*parts):
    print(time.strftime("[%H:%M:%S]"), *parts, flush=True)


def evaluate(model, images, labels, batch_size, rank, world, device):
    """Each rank scores a contiguous share of the test set; sums are all-reduced (as ours)."""
    model.eval()
    n = labels.shape[0]
    begin, end = n * rank // world, n * (rank + 1) // world
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, correct
    with torch.no_grad():
        for start in range(begin, end, batch_size):
            idx = torch.arange(start, min(start + batch_size, end), device=device)
            x, y = gather(images, labels, idx)
            logits = model(x)
            sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
            sums[1] += (logits.argmax(dim=1) == y).sum()
    dist.all_reduce(sums)
    model.train()
    return sums[0].item() / n, sums[1].item() / n


def main(argv):
    args, overrides = parse_args(argv)
    rank, world, local_rank, local_world = world_from_env()
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as e:
        if rank == 0:
            print(f"error: {e}", file=sys.stderr)
        return 1
    m, o, t = cfg.model, cfg.optim, cfg.train
    leader = rank == 0

    use_cuda = torch.cuda.is_available()
    if use_cuda:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    threads = t.threads if t.threads > 0 else max(1, (os.cpu_count() or 1) // local_world)
    torch.set_num_threads(threads)

    try:  # before the rendezvous: a missing or broken file is one error line on every rank
        train_x, train_y = load_split(cfg.data.dir, "train", cfg.data.train_limit)
        test_x, test_y = load_split(cfg.data.dir, "t10k", cfg.data.test_limit)
    except ConfigError as e:
        print(f"error: {'' if world == 1 else f'rank {rank}: '}{e}", file=sys.stderr)
        return 1

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29500")
    backend = "nccl" if use_cuda else "gloo"
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world,
                            timeout=timedelta(minutes=5))

    train_x, train_y, test_x, test_y = (v.to(device) for v in (train_x, train_y, test_x, test_y))

    torch.manual_seed(t.seed)  # initial parameters depend on train.seed alone (and rank 0's win)
    model = VisionTransformer(m, tuple(train_x.shape[1:])).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    if leader and args.save_init:
        torch.save(model.state_dict(), args.save_init)
    # broadcast_buffers=False: the only buffer is the constant position table; DDP would otherwise
    # broadcast it from rank 0 before every forward pass (vit-train never sends it).
    ddp = DDP(model, device_ids=[device.index] if use_cuda else None, broadcast_buffers=False)
    # The forward pass: the DDP module, or its torch.compile'd form (no_sync stays on `ddp`).
    forward = ddp
    if args.compile:
        if not hasattr(torch, "compile"):
            raise RuntimeError(f"--compile needs torch 2.x, this is {torch.__version__}")
        forward = torch.compile(ddp, mode=args.compile_mode)

    lr = o.lr * (world if o.lr_scaling == "linear" else 1)
    per_rank = math.ceil(train_y.shape[0] / world)
    per_step = t.batch_size * t.accum_steps
    steps_per_epoch = math.ceil(per_rank / per_step)
    total_steps = steps_per_epoch * t.epochs
    if t.max_steps > 0:
        total_steps = min(total_steps, t.max_steps)
    optimizer = make_optimizer(o, ddp.parameters(), lr, fused=args.fused_adam)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(o, step, total_steps))

    def train_step(indices):
        """One optimizer step over this rank's `indices`: micro-batches of batch_size, gradients
        all-reduced by DDP once, on the last micro-batch. Returns the summed loss (a tensor)."""
        optimizer.zero_grad(set_to_none=True)
        total = indices.shape[0]
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        starts = range(0, total, t.batch_size)
        for k, first in enumerate(starts):
            x, y = gather(train_x, train_y, indices[first:first + t.batch_size])
            sync = contextlib.nullcontext() if k == len(starts) - 1 else ddp.no_sync()
            with sync:
                loss = F.cross_entropy(forward(x), y)
                (loss * (y.shape[0] / total)).backward()
            loss_sum += loss.detach().double() * y.shape[0]
        optimizer.step()
        schedule.step()
        return loss_sum

    order = vit_permutation if args.order == "vit" else torch_permutation
    if args.profile > 0:
        return profile(args, train_step, order, train_y.shape[0], t, rank, world, device, leader)

    run_dir = args.run_dir
    if leader:
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "config.ini"), "w") as f:
            f.write(f"# resolved config of a vit_ddp.py run ({' '.join(argv)})\n")
            section = ""
            for key, value in cfg.items():
                s, name = key.split(".")
                if s != section:
                    f.write(f"\n[{s}]\n")
                    section = s
                f.write(f"{name} = {value}\n")
        metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a")
        log(f"vit_ddp.py: torch {torch.__version__}, {world} rank(s) ({local_world} on "
            f"{socket.gethostname()}), {device}, backend {backend}, {threads} intra-op thread(s) "
            f"per rank, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
        log(f"data: {cfg.data.dataset} from {cfg.data.dir}: {train_y.shape[0]} training and "
            f"{test_y.shape[0]} test images of {'x'.join(map(str, train_x.shape[1:]))}")
        log(f"model: {n_params} parameters; {steps_per_epoch} steps per epoch, {per_step} images "
            f"per step and rank (global batch {per_step * world}); order {args.order}")
        metrics.write(json.dumps({"event": "start", "parameters": n_params, "world_size": world,
                                  "threads": threads, "backend": backend, "device": str(device),
                                  "startup_s": time.monotonic() - PROCESS_START}) + "\n")
        metrics.flush()

    step, test_acc, trained_s = 0, float("nan"), 0.0
    for epoch in range(t.epochs):
        if step >= total_steps:
            break
        indices = shard(order(train_y.shape[0], t.seed, epoch), rank, world).to(device)
        if use_cuda:
            torch.cuda.synchronize()
        start = time.monotonic()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        images, paused_s = 0, 0.0
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            chunk = indices[b * per_step:(b + 1) * per_step]
            loss_sum += train_step(chunk)
            images += chunk.shape[0]
            step += 1
            # train.eval_every_steps as vit-train: within the epoch, its time not training time.
            every = t.eval_every_steps
            if every > 0 and step % every == 0 and b + 1 < steps_per_epoch:
                if use_cuda:
                    torch.cuda.synchronize()
                paused = time.monotonic()
                train_s = trained_s + paused - start - paused_s
                e_loss, e_acc = evaluate(ddp.module, test_x, test_y, t.eval_batch_size, rank,
                                         world, device)
                paused_s += time.monotonic() - paused
                if leader:
                    metrics.write(json.dumps({
                        "event": "eval", "step": step, "epoch": epoch + 1, "test_loss": e_loss,
                        "test_acc": e_acc, "train_s": train_s, "world_size": world,
                        "elapsed_s": time.monotonic() - PROCESS_START}) + "\n")
                    metrics.flush()
                    log(f"epoch {epoch + 1}/{t.epochs} step {step}: test_acc "
                        f"{100 * e_acc:.2f}% after {train_s:.1f} s of training")
        if use_cuda:
            torch.cuda.synchronize()
        epoch_s = time.monotonic() - start - paused_s
        trained_s += epoch_s
        sums = torch.tensor([loss_sum.item(), images], dtype=torch.float64, device=device)
        dist.all_reduce(sums)
        test_loss, test_acc = evaluate(ddp.module, test_x, test_y, t.eval_batch_size, rank, world,
                                       device)
        elapsed_s = time.monotonic() - PROCESS_START
        if leader:
            line = {"event": "epoch", "epoch": epoch + 1, "step": step,
                    "train_loss": sums[0].item() / sums[1].item(), "test_loss": test_loss,
                    "test_acc": test_acc, "images_per_s": sums[1].item() / epoch_s,
                    "epoch_s": epoch_s, "elapsed_s": elapsed_s, "world_size": world,
                    "lr": lr * lr_factor(o, step - 1, total_steps)}
            metrics.write(json.dumps(line) + "\n")
            metrics.flush()
            log(f"epoch {epoch + 1}/{t.epochs} done: train_loss {line['train_loss']:.4f} "
                f"test_loss {test_loss:.4f} test_acc {100 * test_acc:.2f}% "
                f"{line['images_per_s']:.0f} img/s {epoch_s:.1f} s")
        if args.stop_at_acc > 0 and test_acc >= args.stop_at_acc:
            if leader:
                log(f"test_acc {100 * test_acc:.2f}% >= {100 * args.stop_at_acc:.2f}%: stopping")
            break
    if leader:
        if args.save_final:
            torch.save(ddp.module.state_dict(), args.save_final)
        log(f"final test accuracy {100 * test_acc:.2f}% after {step} steps; metrics "
            f"{os.path.join(run_dir, 'metrics.jsonl')}")
        metrics.close()
    dist.barrier()
    # Not dist.destroy_process_group(): seen to hang now and then in gloo (rank 0 waiting in a
    # futex after rank 1 had left); after the barrier every rank's work is done and written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def profile(args, train_step, order, n_train, t, rank, world, device, leader):
    """Profiles `args.profile` training steps (after 10 warm-up steps) on the CPU."""
    from torch.profiler import ProfilerActivity, profile as torch_profile, record_function

    indices = shard(order(n_train, t.seed, 0), rank, world).to(device)
    per_step = t.batch_size * t.accum_steps
    need = 10 + args.profile
    if indices.shape[0] < need * per_step:
        indices = indices.repeat(math.ceil(need * per_step / indices.shape[0]))
    batches = [indices[b * per_step:(b + 1) * per_step] for b in range(need)]
    for chunk in batches[:10]:
        train_step(chunk)
    start = time.monotonic()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for chunk in batches[10:]:
            with record_function("train_step"):
                train_step(chunk).item()
    wall = time.monotonic() - start
    if leader:
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30)
        head = (f"vit_ddp.py --profile {args.profile}: torch {torch.__version__}, {world} rank(s), "
                f"{torch.get_num_threads()} thread(s), batch {per_step}; {args.profile} steps in "
                f"{wall:.3f} s under the profiler ({args.profile * per_step * world / wall:.0f} "
                f"img/s with profiling overhead)\n")
        print(head + table)
        if args.profile_out:
            os.makedirs(os.path.dirname(os.path.abspath(args.profile_out)), exist_ok=True)
            with open(args.profile_out, "w") as f:
                f.write(head + table + "\n")
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
