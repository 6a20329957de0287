"""Train the tutorial CNN (model.py) on CIFAR-10 or on any image folder.

    python train.py                                # CIFAR-10 in data/, default recipe
    python train.py --data-dir data/cifar10_jpeg   # an image folder: train/<class>/*, test/<class>/*
    python train.py --preset tutorial              # the tutorial's settings
    python train.py --resume logs_train/<run>      # continue a run
    torchrun --nproc_per_node=2 train.py ...       # DistributedDataParallel

Each epoch: train, evaluate on the test split, save a checkpoint (logs_train/<run>/checkpoints/),
then log to TensorBoard (logs_train/<run>/) and print a line.

Reading it: main(), near the end, is a run from start to finish. The tutorial's loop is
train_one_epoch() and train_step() (forward, loss, zero_grad, backward, step), its test
loop evaluate(), its torch.save save_and_report() (through runs.save_checkpoints: a dict
with the state_dict, not the whole model). The flags and settings come first; the code for
torchrun, Ctrl-C and resuming sits in small functions named for what they do. With one
process (plain `python train.py`), rank is 0 and world 1: on_rank_0(f) and rank_0_first(f)
just call f(), and every other rank or world line can be skipped on a first read.
"""
import interrupt  # before all else: Ctrl-C while torch loads is one line

import argparse
import contextlib
import datetime
import functools
import glob
import importlib
import io
import math
import os
import signal
import sys
import threading
import time
import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from tqdm import tqdm

import pictures
import runs
from checkpoint import FLOAT32, atomic_save, load_model, load_optimizer_state, optimizer_state_on_cpu
from cli import Parser, checked, folder_name, folder_path, log_folder, named_path
from data import (IDENTITY, IMAGE_SIZE, UserError, BatchLoader, Batches, augment, augment_params, channel_stats,
                  load_dataset, normalize, printable, say, shell_word, spread, warn_of_images_trained_on,
                  whitening_filter)
from model import Tudui

# The CPUs this process may run on (taskset, a container's cpuset): DataLoader warns of more workers than that.
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
# The default recipe, found by measurement (README, "Accuracy"). Explicit flags override it.
DEFAULTS = dict(
    epochs=10, batch_size=128, optimizer="sgd", lr=0.03, momentum=0.9, nesterov=True, weight_decay=5e-4,
    schedule="onecycle", warmup=0.1, label_smoothing=0.1, normalize=True, whiten=True, crop_pad=2, flip=True,
    seed=0, val_split=0, device="auto", amp=False, cuda_graphs="auto", deterministic=False,
    num_workers=min(4, CPUS), data_dir="data", data_path="auto",
    log_dir="logs_train", run_name=None, log_every=100, preset=None,
)
PRESETS = {
    # The tutorial: SGD lr 0.01, no momentum, no weight decay, constant lr, no label smoothing,
    # ToTensor only (no normalization or augmentation), batch 64, 10 epochs. One difference: its
    # DataLoader does not shuffle; on an image folder, listed class by class, that would train on
    # one class at a time.
    "tutorial": dict(lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, schedule="constant", warmup=0.0,
                     label_smoothing=0.0, normalize=False, whiten=False, crop_pad=0, flip=False, batch_size=64,
                     epochs=10),
}
# Runs of LONG_RUN_EPOCHS or more overfit more and gain from more regularization: the default SGD
# recipe then smooths labels and decays weights more (measured at 10, 12, 15, 20 and 30 epochs: README, "Accuracy").
LONG_RUN_EPOCHS = 12
LONG_RUN = dict(label_smoothing=0.2, weight_decay=2e-3)
# This project's defaults for --optimizer adamw (not torch's 1e-3 and 1e-2): SGD's lr of 0.03 is 15 times
# too high for it, and its weight decay is decoupled from the gradient (measured: README, "Accuracy").
ADAMW = dict(lr=0.002, weight_decay=0.05)
# Settings that may change when a run is resumed; the others belong to the run.
RESUMABLE = {"epochs", "lr", "log_dir", "run_name", "device", "num_workers", "data_dir", "data_path", "cuda_graphs",
             "amp", "deterministic", "log_every"}
# Where a run lies, not how it trains: a resumed run's is where its checkpoint lies or what the
# flags say, never what the checkpoint says (it may come from another machine).
LOCATIONS = ("log_dir", "run_name")
EVAL_BATCH = 1000  # images per evaluation batch: it sets speed and memory, not what is measured
MAX_WORKERS = 256  # decoding processes: a typo of 1000 or more would take minutes to start, or hang


class Diverged(Exception):
    pass


class Interrupted(Exception):
    """Ctrl-C, SIGHUP or SIGTERM: the message says how to continue; exit 130, 129 or 143, as if the signal had
    killed it."""
    def __init__(self, how, where, command):
        super().__init__(f"{how} {where}; continue with: {command}")
        self.code = {"interrupted": 130, "hung up": 129, "terminated": 143}[how]


# ---------------------------------------------------------------- command line

def parse_args(argv=None, parser_class=Parser):
    # Defaults are None here so that flags given explicitly can be told apart (presets, resume).
    p = parser_class(description="Train the tutorial CNN on CIFAR-10 or an image folder.")
    d = DEFAULTS
    positive, count, fraction = checked(int, above=0), checked(int, at_least=0), checked(float, at_least=0, at_most=1)
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="tutorial: the tutorial's settings (shuffled, though); other flags override it")
    # At most a million, far beyond any real run: a typo such as 10**400 would overflow lr_at's floats.
    p.add_argument("--epochs", type=checked(int, above=0, at_most=10**6), help=f"total epochs (default {d['epochs']})")
    p.add_argument("--batch-size", type=positive, help=f"global batch size, whatever the number of processes "
                                                        f"(default {d['batch_size']})")
    p.add_argument("--optimizer", choices=["sgd", "adamw"], help=f"(default {d['optimizer']})")
    # Outside float32's range, the optimizer could not even hold the lr (as 0 or inf) or the weight decay.
    p.add_argument("--lr", type=checked(float, at_least=FLOAT32.tiny, at_most=FLOAT32.max),
                   help=f"peak learning rate (default {d['lr']}; {ADAMW['lr']} with adamw)")
    p.add_argument("--momentum", type=checked(float, at_least=0, below=1),
                   help=f"SGD's (default {d['momentum']})")
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, help=f"SGD's (default {d['nesterov']})")
    p.add_argument("--weight-decay", type=checked(float, at_least=0, at_most=FLOAT32.max),
                   help=f"(default {d['weight_decay']}; {LONG_RUN['weight_decay']} from {LONG_RUN_EPOCHS} epochs on; "
                        f"{ADAMW['weight_decay']} with adamw)")
    p.add_argument("--schedule", choices=["onecycle", "constant"],
                   help=f"onecycle: linear warm-up then linear decay to 0, per batch (default {d['schedule']})")
    p.add_argument("--warmup", type=fraction, help=f"warm-up fraction of all steps (default {d['warmup']})")
    p.add_argument("--label-smoothing", type=fraction, help=f"(default {d['label_smoothing']}; "
                                                            f"{LONG_RUN['label_smoothing']} from {LONG_RUN_EPOCHS} "
                                                            "epochs on, with sgd)")
    p.add_argument("--normalize", action=argparse.BooleanOptionalAction,
                   help=f"standardize with the training split's per-channel mean/std (default {d['normalize']})")
    p.add_argument("--whiten", action=argparse.BooleanOptionalAction,
                   help=f"then weaken the correlation of neighbouring pixels with a fixed 5x5 ZCA filter made from "
                        f"the training split (default {d['whiten']})")
    p.add_argument("--crop-pad", type=checked(int, at_least=0, at_most=IMAGE_SIZE - 1),
                   help=f"random-crop padding in pixels, 0 for none (default {d['crop_pad']})")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, help=f"horizontal flip, each image in every "
                                                                         f"other epoch (default {d['flip']})")
    p.add_argument("--seed", type=checked(int, at_least=0, at_most=2**32 - 1), help=f"(default {d['seed']})")
    p.add_argument("--val-split", type=count, metavar="N", help="hold out N training images for validation and keep "
                                                   "best.pth by validation accuracy (default 0: none)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"],
                   help="auto: CUDA, then MPS, then CPU (default auto)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, help="bfloat16 autocast, for GPUs (default off)")
    p.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction,
                   help="replay each training step as one captured CUDA graph (default: on for CUDA with one "
                        "process)")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction,
                   help="deterministic algorithms only: the same command gives the same weights (default off)")
    p.add_argument("--num-workers", type=checked(int, at_least=0, at_most=MAX_WORKERS),
                   help=f"decoding processes (default {d['num_workers']})")
    p.add_argument("--data-dir", type=folder_path, help="train/<class>/ and test/<class>/ image folders, or where "
                                                         "CIFAR-10 is (default data/, downloaded when missing)")
    p.add_argument("--data-path", choices=["auto", "memory", "stream"],
                   help="image folders: memory: decode once and keep in memory; stream: decode every batch "
                        "(default auto: memory up to 2 GiB of decoded training images). CIFAR-10 is always in memory")
    p.add_argument("--log-dir", type=log_folder, help=f"(default {d['log_dir']})")
    p.add_argument("--run-name", type=folder_name,
                   help="run directory under --log-dir (default: date, time and preset)")
    p.add_argument("--log-every", type=positive, metavar="N",
                   help=f"log train/loss every N steps (default {d['log_every']})")
    p.add_argument("--resume", type=named_path,
                   help="a checkpoint or a run directory to continue (with --run-name: as a new run)")
    args = p.parse_args(argv)
    explicit = {k: v for k, v in vars(args).items() if v is not None and k != "resume"}
    return explicit, args.resume


def saved_settings(ckpt):
    """A resumed run's own settings, put through the checks its flags passed when it started: a
    checkpoint edited by hand or written by another program stops here, in one line."""
    def refuse(message):
        raise UserError(f"{ckpt['path']} holds settings that train.py refuses ({message}); it cannot be resumed")

    class Refused(Parser):
        def error(self, message):
            refuse(message)
    argv = []
    for key, value in ckpt["config"].items():
        if key not in DEFAULTS or key in LOCATIONS or (value is None and DEFAULTS[key] is None) or \
                (type(value) is type(DEFAULTS[key]) and value == DEFAULTS[key]):
            # Not a flag: a setting this version lacks (an older version's compile), where the run lies (never
            # the checkpoint's to say), one left unset, or a default (no flag spells cuda_graphs "auto").
            continue
        if value is None:
            refuse(f"{key} is unset")
        if not isinstance(value, (str, int, float)):  # (bool is an int) a list or a dict, nested past what repr() takes
            refuse(f"{key} is a {type(value).__name__}")
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):  # --flip, --no-flip
            argv.append(flag if value else "--no-" + flag[2:])
        else:
            argv.append(f"{flag}={value}")
    return parse_args(argv, Refused)[0]


def make_config(explicit, resume_ckpt):
    """The run's settings: defaults (a long run's, with SGD), then the preset, then AdamW's own
    defaults (with --optimizer adamw), then explicit flags; a resumed run's own settings, then the
    flags that may change."""
    if resume_ckpt is None:
        preset = PRESETS.get(explicit.get("preset"), {})
        adamw = ADAMW if explicit.get("optimizer") == "adamw" else {}  # over a preset's SGD values too
        epochs = explicit.get("epochs", preset.get("epochs", DEFAULTS["epochs"]))
        long_run = LONG_RUN if epochs >= LONG_RUN_EPOCHS and not adamw else {}  # (a preset's own come after it)
        config = {**DEFAULTS, **long_run, **preset, **adamw, **explicit}
    else:
        # The run's settings that differ from the defaults (saved_settings); a run saved before --whiten
        # existed has no "whiten" setting: its stats say whether it whitens.
        saved = {**DEFAULTS, "whiten": "whiten" in resume_ckpt["normalize"], **saved_settings(resume_ckpt)}
        fixed = sorted(k for k in explicit if k not in RESUMABLE and explicit[k] != saved[k])
        if fixed:
            raise UserError(f"--{fixed[0].replace('_', '-')} cannot change when resuming a run")
        config = {**saved, **explicit}
        # Settings of the machine it was trained on, which this one may not take (unless given again):
        if config["cuda_graphs"] is True and "cuda_graphs" not in explicit:  # auto: on where they can be
            config["cuda_graphs"] = "auto"
        if config["num_workers"] > CPUS and "num_workers" not in explicit:  # more than the CPUs here: the default
            config["num_workers"] = DEFAULTS["num_workers"]
        check_resumed_run_fits_here(config, explicit)
    if config["optimizer"] == "adamw" and {"momentum", "nesterov"} & explicit.keys():
        raise UserError("--momentum and --nesterov are SGD's; AdamW has momentum of its own (betas 0.9, 0.999)")
    if config["schedule"] == "constant" and explicit.get("warmup"):
        raise UserError("--warmup is the warm-up of --schedule onecycle; a constant lr has none")
    if config["run_name"] is None:
        config["run_name"] = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S") + f"_{config['preset'] or 'default'}"
    return config


def say_what_a_long_run_takes(config, explicit):
    """The long-run values a new run of LONG_RUN_EPOCHS or more takes by default, said: 10 against 20 epochs
    compares two recipes, not only two lengths."""
    taken = [k for k, v in LONG_RUN.items() if config["epochs"] >= LONG_RUN_EPOCHS and k not in explicit
             and config[k] == v]
    if taken:
        say(f"note: from {LONG_RUN_EPOCHS} epochs on, " + " and ".join(
            f"{k.replace('_', ' ')} {LONG_RUN[k]} (10 epochs: {DEFAULTS[k]})" for k in taken) +
            ", which long runs gain from; " + " and ".join(f"--{k.replace('_', '-')}" for k in taken) + " to choose")


def check_resumed_run_fits_here(config, explicit):
    """A resumed run keeps its device and data directory unless the flags name others: where this
    machine lacks them (the run was trained on another one), the error says which flag to add."""
    if "device" not in explicit:
        try:
            pick_device(config["device"])
        except UserError:  # ("--device cuda asked for" would name a flag its command did not give)
            raise UserError(f"the run was trained with --device {config['device']}, which this machine lacks: "
                            "add --device cpu (or auto) to continue it here") from None
    data_dir = config["data_dir"]  # (the default one is downloaded to where it is missing)
    if "data_dir" not in explicit and os.path.normpath(data_dir) != DEFAULTS["data_dir"] \
            and not os.path.exists(data_dir):
        raise UserError(f"the run's data directory {data_dir} does not exist here: "
                        "add --data-dir DIR to continue it on a copy of its data")


# ---------------------------------------------------------------- device and processes

def pick_device(name):
    """auto: CUDA, then Apple's MPS, then the CPU; a clear error when the one asked for is absent."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but PyTorch sees no CUDA GPU")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps asked for, but MPS is not available")
    return torch.device(name)


def setup_processes(config):
    """(rank, world size, device). Under torchrun: one process per GPU (NCCL) or per CPU share (gloo)."""
    wanted = pick_device(config["device"]).type
    if "RANK" not in os.environ:
        return 0, 1, torch.device(wanted)
    rank, world, local_rank = torchrun_numbers()
    if wanted == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"process {local_rank} on this node has no GPU: {torch.cuda.device_count()} GPU(s) "
                            "for more processes; lower --nproc_per_node")
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    elif wanted == "cpu":
        device, backend = torch.device("cpu"), "gloo"
    else:
        raise UserError("under torchrun, train.py supports --device cuda or cpu")
    if config["batch_size"] % world:
        raise UserError(f"the batch of {config['batch_size']} (--batch-size) does not split evenly over {world} "
                        "processes; use a number of processes that divides it")
    # A timeout, so that a process stuck in a collective call is ended rather than hanging the run
    # (torchrun ends the others when one exits). Long enough for the others to wait while process 0
    # decodes a large image folder or downloads CIFAR-10 (load_splits): 5 minutes were not.
    dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30),
                            device_id=device if wanted == "cuda" else None)
    return rank, world, device


def torchrun_numbers():
    """RANK, WORLD_SIZE and LOCAL_RANK, which torchrun sets with MASTER_ADDR and MASTER_PORT; a RANK left
    in the environment by something else (a notebook's DDP lesson, a scheduler's partial set) is one line."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    missing = [name for name in names if not os.environ.get(name)]
    numbers = [os.environ.get(name, "") for name in names[:3]]
    if missing or not all(n.isdigit() for n in numbers):
        wrong = f"{', '.join(missing)} unset or empty" if missing else \
            f"RANK, WORLD_SIZE, LOCAL_RANK = {', '.join(numbers)}"
        raise UserError(f"RANK is in the environment, as torchrun puts it for each process, but {wrong}: start "
                        "several processes with torchrun (README, 'Many processes'), or unset RANK to train in one")
    return tuple(int(n) for n in numbers)


def all_sum(*tensors):
    if dist.is_initialized():
        for t in tensors:
            dist.all_reduce(t)


def any_process(flag, device):
    """Whether `flag` is true in any of the processes (each passes its own)."""
    return max_over_processes(int(flag), device) > 0


def max_over_processes(value, device):
    """The largest of the processes' `value`s (whole numbers; each passes its own)."""
    t = torch.tensor(float(value), device=device)
    if dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def on_rank_0(work, rank, world, device):
    """`work()` in process 0 alone, its result returned there (None in the others). Under torchrun
    the others wait for it; if it fails with a UserError (or an OSError: its output's pipe closed,
    its disk full), they stop quietly and process 0 says why in one line (in their next collective
    call they would fail, each with a traceback). They exit with 0, so that torchrun names process
    0, the one that says why, as the run's root cause."""
    result, error = None, None
    if rank == 0:
        try:
            result = work()
        except (UserError, OSError) as e:  # (OSError: the epoch's line into | head, or into a file on a full disk)
            error = e
    if world > 1 and any_process(error is not None, device) and rank != 0:
        sys.exit(0)
    if error:
        raise error
    return result


def rank_0_first(work, rank, world, device):
    """`work()` in process 0, then, once it has succeeded there, in the others (which may then read
    what it made, a cache or a folder); its result in every process."""
    result = on_rank_0(work, rank, world, device)
    return result if rank == 0 else work()


# ---------------------------------------------------------------- model and optimizer

def build_model(config, num_classes, device, world=1, graphs=False):
    """(model, what to call in training: the model or its DDP wrapper, optimizer, loss)."""
    # Seeded here, right before the initial weights are drawn: data loading may or may not
    # have used the global RNG, depending on whether its cache existed.
    torch.manual_seed(config["seed"])
    # channels_last: the layout the CPU's and GPU's convolution kernels run fastest in (README, Speed).
    model = Tudui(num_classes).to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config, device, graphs)
    train_model = model
    if world > 1:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    # Summed, then scaled in train_step (train_one_epoch says how): the tutorial's mean, also for a
    # short last batch and across torchrun's processes. (A loss of one's own must sum too: a mean would be
    # divided by the batch again, each step 128 times too small at the default batch.)
    criterion = nn.CrossEntropyLoss(reduction="sum", label_smoothing=config["label_smoothing"])
    # `model` as it is saved, resumed and traced for TensorBoard: the network itself, also where a
    # `model = torch.compile(model)` above wrapped it (train_model is then the compiled one).
    return getattr(model, "_orig_mod", model), train_model, optimizer, criterion


def make_optimizer(model, config, device, graphs=False):
    # A CUDA graph replays the step with the values it was captured with: there the learning
    # rate is a tensor on the GPU, set in place (set_lr), and AdamW counts its steps on the GPU.
    lr = torch.tensor(config["lr"], device=device) if graphs else config["lr"]
    fused = {"fused": True} if device.type == "cuda" else {}  # the whole update as one kernel
    if config["optimizer"] == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=config["weight_decay"], capturable=graphs,
                                 **fused)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=config["momentum"],
                           nesterov=config["nesterov"] and config["momentum"] > 0,  # torch refuses it without
                           weight_decay=config["weight_decay"], **fused)


def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def lr_at(step, total_steps, config):
    """The lr at a step. onecycle: linear from lr/10 up to lr over the warm-up, then linearly down
    to 0 (torch's OneCycleLR, by default, starts at lr/25, anneals along a cosine and cycles the
    momentum too); constant: lr throughout."""
    peak = config["lr"]
    if config["schedule"] == "constant":
        return peak
    warm = config["warmup"] * total_steps
    if step < warm:
        return peak * (0.1 + 0.9 * step / warm)
    return peak * max(0.0, (total_steps - step) / max(1.0, total_steps - warm))


def use_cuda_graphs(config, device, world):
    """Auto: on CUDA with one process. (Under DDP the gradient all-reduce would have to be
    captured too, which needs its own set-up; those steps run as they are.)"""
    if config["cuda_graphs"] == "auto":
        return device.type == "cuda" and world == 1
    if config["cuda_graphs"] and (device.type != "cuda" or world > 1):
        raise UserError("--cuda-graphs needs --device cuda and a single process (or pass --no-cuda-graphs)")
    return config["cuda_graphs"]


# ---------------------------------------------------------------- one epoch: the tutorial's loop

def prepare(images, stats, aug=None):
    """uint8 batch -> normalized float batch in channels_last; augmented when `aug`
    (shifts, flips, crop padding, flip on/off) is given."""
    x = normalize(images, stats)
    if aug is not None:
        x = augment(x, *aug)
    return x.contiguous(memory_format=torch.channels_last)


def train_step(model, optimizer, criterion, ctx, scale, images, labels, shifts, flips):
    """One optimizer step on a uint8 batch and its augmentation parameters; returns the batch's
    summed loss and its count of correct predictions, as tensors on the device. `scale` turns
    the summed loss into the one to minimize: with one process 1 / len(batch), the tutorial's
    mean loss (train_one_epoch says why it is a scale)."""
    config = ctx["config"]
    x = prepare(images, ctx["stats"], (shifts, flips, config["crop_pad"], config["flip"]))
    # No cache of bf16 weight copies, as PyTorch's notes on CUDA graphs ask (each weight is cast once anyway).
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config["amp"], cache_enabled=False):
        logits = model(x)
        loss_sum = criterion(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    (loss_sum * scale).backward()
    optimizer.step()
    return loss_sum.detach(), (logits.argmax(1) == labels).sum()


def train_one_epoch(model, optimizer, criterion, loader, state, ctx):
    """Trains one epoch (or its rest, after a mid-epoch resume); returns the loss and accuracy on the
    epoch's training batches, and the number of images it trained. `state` holds epoch, step, batch
    and the epoch's sums, and is updated as training goes."""
    config, device = ctx["config"], ctx["device"]
    n, batch_size = loader.batches.n, config["batch_size"]
    resumed_inside = state["batch"] > 0
    loader.batches.set_epoch(state["epoch"], skip=state["batch"])
    shifts, flips = (t.to(device) for t in augment_params(n, config["seed"], state["epoch"], config["crop_pad"]))
    total_steps = config["epochs"] * math.ceil(n / batch_size)
    # Running sums stay on the device: reading them would wait for the GPU at every step.
    loss_total, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
    window = ctx["loss_window"]  # [loss, images] since the last train/loss point (or resume), maybe in the epoch before
    # Closed however the epoch ends: left drawn, it had the line that says why a run failed written on its end.
    with tqdm(total=len(loader), desc=f"epoch {state['epoch'] + 1}/{config['epochs']}", leave=False,
              disable=not ctx["show_bar"], dynamic_ncols=True) as bar:
        t0 = time.perf_counter()
        model.train()
        for images, labels, index in loader:
            lr = lr_at(state["step"], total_steps, config)
            set_lr(optimizer, lr)
            # `index`: each image's place in the split, which picks its shift and flip of this epoch.
            batch = (images, labels, shifts[index], flips[index])
            # A graph replays one batch shape: the epoch's last, shorter batch (or a streamed one that lost an
            # unreadable image) runs step by step.
            if ctx["graphed_step"] and len(labels) == batch_size:
                loss_sum, right = ctx["graphed_step"](*batch)
            else:
                # The loss of the global batch is its mean. This process sums over its share, times world /
                # global batch: DDP averages the gradients over the `world` processes, which gives exactly the
                # mean over the global batch, however it was split (a streamed batch that lost an unreadable
                # image is still divided by its full size: a slightly smaller step).
                global_batch = min(batch_size, n - state["batch"] * batch_size)
                loss_sum, right = train_step(model, optimizer, criterion, ctx, ctx["world"] / global_batch, *batch)
            state["step"] += 1
            state["batch"] += 1
            loss_total += loss_sum
            correct += right
            seen += len(labels)
            window[0] += loss_sum
            window[1] += len(labels)
            bar.update()
            if state["step"] % config["log_every"] == 0:
                mean_loss = log_train_loss(window, state["step"], lr, ctx)
                bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{correct.item() / max(seen, 1):.3f}",
                                img_s=f"{seen * ctx['world'] / (time.perf_counter() - t0):,.0f}")
            if stop_agreed(ctx, state["step"]):
                break
    sums = torch.stack([loss_total, correct, torch.tensor(float(seen), device=device)])
    all_sum(sums)
    trained = sums.tolist()  # loss, right answers and images of this call, over all processes
    if trained[2] == 0 and len(loader) > 0:  # (--data-path stream: unreadable files are found only as they are read)
        raise UserError("none of the training images could be read")
    # The epoch's sums so far, kept in `state` for a checkpoint inside it: resumed there, the epoch's
    # loss and accuracy count the batches trained before the stop too.
    earlier = state["epoch_sums"] if resumed_inside else [0.0, 0.0, 0.0]
    state["epoch_sums"] = [a + b for a, b in zip(earlier, trained)]
    epoch_loss, epoch_correct, epoch_images = state["epoch_sums"]
    if not math.isfinite(epoch_loss):
        raise Diverged(f"loss became {epoch_loss} in epoch {state['epoch'] + 1}")
    # Nothing trained in the epoch (a mid-epoch checkpoint without epoch_sums, saved before 2026-11-28, resumed on
    # a training split that has since shrunk to its batch count): no loss or accuracy, rather than 0.
    return {"loss": epoch_loss / epoch_images if epoch_images else math.nan,
            "accuracy": epoch_correct / epoch_images if epoch_images else math.nan, "images": trained[2]}


def log_train_loss(window, step, lr, ctx):
    """The mean training loss since the last point, logged as train/loss (with the lr); the window then
    starts again. Over every process's images: each sees the same loss, and a divergence stops them all here."""
    loss_and_seen = torch.stack([window[0], torch.tensor(float(window[1]), device=ctx["device"])])
    all_sum(loss_and_seen)
    mean_loss = loss_and_seen[0].item() / max(loss_and_seen[1].item(), 1)
    if not math.isfinite(mean_loss):
        raise Diverged(f"loss became {mean_loss} at step {step} (lr {lr:.4g})")
    window[0].zero_()
    window[1] = 0
    if ctx["writer"]:
        ctx["writer"].add_scalar("train/loss", mean_loss, step)
        ctx["writer"].add_scalar("lr", lr, step)
    return mean_loss


@torch.no_grad()
def logits_of(model, x, amp):
    """The network's float32 logits for prepared inputs; with --amp worked out in bfloat16, for the
    evaluation and TensorBoard's grid of predictions alike."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        return model(x).float()


@torch.no_grad()
def evaluate(model, split, stats, device, num_classes, rank=0, world=1, amp=False, keep_probs=False, num_workers=0):
    """Mean loss over images, accuracy, confusion matrix (rows: true class) and the accuracy on each
    class's images, on a whole split; with `keep_probs` (one process only), also every scored
    image's class probabilities and its index in the split (streamed, an unreadable one is not scored)."""
    model.eval()
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.long, device=device)
    loss_sum = torch.zeros((), device=device)  # float32: Apple's MPS has no float64
    probs, scored = [], []
    batches = Batches(len(split), EVAL_BATCH, rank=rank, world=world)
    for images, labels, index in BatchLoader(split, batches, device, num_workers):
        logits = logits_of(model, prepare(images, stats), amp)  # normalized and whitened, as in training
        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        # Each image adds 1 to the cell (true class, predicted class) of the flattened matrix.
        confusion += torch.bincount(labels * num_classes + logits.argmax(1), minlength=num_classes**2)
        if keep_probs:
            probs.append(logits.softmax(1).cpu())
            scored.append(index.cpu())
    all_sum(confusion, loss_sum)
    confusion = confusion.view(num_classes, num_classes).cpu()
    seen = confusion.sum().item()
    if seen == 0:  # (--data-path stream: unreadable files are found only as they are read)
        raise UserError(f"none of the {len(split)} images to evaluate could be read")
    # Each row's share; None for a class none of whose images could be read (0.0 would say all were wrong).
    per_class = [right / total if total else None for right, total in zip(confusion.diag().tolist(),
                                                                          confusion.sum(1).tolist())]
    result = {"loss": loss_sum.item() / seen, "accuracy": confusion.trace().item() / seen, "confusion": confusion,
              "per_class_accuracy": per_class}
    if keep_probs:
        result["probs"], result["index"] = torch.cat(probs), torch.cat(scored)
    return result


# ---------------------------------------------------------------- stops and CUDA graphs (skip on a first read)

class GraphedStep:
    """A step function captured once as a CUDA graph, then replayed: one launch per training
    step instead of dozens of small ones, which take longer than this network's
    arithmetic. The first WARMUP calls run as they are, on a side stream (capture needs cuDNN's
    choices and the optimizer's state made first). Every call must pass tensors of the same shapes."""
    WARMUP = 3

    def __init__(self, step):
        self.step, self.calls, self.side = step, 0, torch.cuda.Stream()
        self.graph = self.inputs = self.outputs = None  # made by the capture

    def __call__(self, *inputs):
        if self.calls < self.WARMUP:
            self.calls += 1
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                outputs = self.step(*inputs)
            torch.cuda.current_stream().wait_stream(self.side)
            return outputs
        if self.graph is None:  # capturing records the step without running it: replayed below
            self.inputs = [t.clone() for t in inputs]
            self.graph = torch.cuda.CUDAGraph()
            # thread_local: the DataLoader's pin-memory thread may allocate meanwhile.
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                self.outputs = self.step(*self.inputs)
        for static, t in zip(self.inputs, inputs):
            static.copy_(t)
        self.graph.replay()
        return self.outputs  # overwritten by the next replay


def graphed_train_step(model, optimizer, criterion, ctx):
    """train_step on full batches of one process, as a CUDA graph."""
    return GraphedStep(functools.partial(train_step, model, optimizer, criterion, ctx, 1 / ctx["config"]["batch_size"]))


STOPS = (None, "interrupted", "hung up", "terminated")  # ctx["stop_requested"]; under torchrun the later in it wins
HANGUP = interrupt.HANGUP  # (none on Windows)


def stop_on_signal(ctx):
    """Ctrl-C (SIGINT), SIGHUP (the terminal closed, an ssh session dropped) or SIGTERM (`kill`,
    `timeout`, a cluster's scheduler, torchrun stopping its processes): stop after the current step
    (under torchrun, a step all processes agree on: stop_agreed), save, exit. A second Ctrl-C stops at
    once; a second SIGTERM changes nothing (torchrun passes on one that has reached its processes
    already, a millisecond later; schedulers send SIGKILL when they will wait no longer). Decoding
    workers leave these signals to train.py (data.workers_leave_stops_to_us). A SIGHUP that nohup has
    set to be ignored stays ignored."""
    def request_stop(signum, _):
        if signum == HANGUP:  # the terminal has gone: what is written to it would fail
            interrupt.quiet_terminal()
        ctx["stop_requested"] = ctx["stop_requested"] or interrupt.HOW[signum]
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if HANGUP and signal.getsignal(HANGUP) is not signal.SIG_IGN:
        signal.signal(HANGUP, request_stop)


def stop_agreed(ctx, step=None):
    """Whether to stop here after Ctrl-C, SIGHUP or SIGTERM. Under torchrun each process gets it at its own
    moment: they agree at steps they all pass (every --log-every steps, and epoch ends) before any
    of them stops, or the others would wait in the next all-reduce for one that has gone; and on
    what stopped them, as every process says it ("terminated" where any got SIGTERM)."""
    if ctx["world"] == 1:
        return bool(ctx["stop_requested"])
    if step is not None and step % ctx["config"]["log_every"]:
        return False
    agreed = STOPS[max_over_processes(STOPS.index(ctx["stop_requested"]), ctx["device"])]
    if agreed:  # (not set back to None: a signal may come while this waits, for the next agreement)
        ctx["stop_requested"] = agreed
    return bool(agreed)


# ---------------------------------------------------------------- logging and checkpoints

def evenly_spaced(split, count=32):
    """Up to `count` of the split's images, evenly spaced (spread), with their indices in the split."""
    picks = spread(len(split), count)
    loader = BatchLoader(split.subset(picks), Batches(len(picks), count), torch.device("cpu"))
    images, labels, index = next(iter(loader))
    return images, labels, picks[index]


def augmented_examples(train, config, device):
    """32 training images, augmented as in the first epoch, in [0,1]: TensorBoard's picture of
    what the network is fed, and the input that traces its graph."""
    images, _, index = evenly_spaced(train)
    shifts, flips = augment_params(len(train), config["seed"], 0, config["crop_pad"])
    aug = (shifts[index].to(device), flips[index].to(device), config["crop_pad"], config["flip"])
    return prepare(images.to(device), IDENTITY, aug)


def open_writer(run_dir, config, state, first_start, examples, model, classes):
    """TensorBoard writer for the run. Points logged after the checkpoint's step are purged (on resume).
    A first start removes the event files of an attempt that stopped before its first checkpoint (their
    settings would head the HParams tab, which takes a run's first) and logs the network's graph and
    `examples`."""
    if first_start:
        for name in glob.glob(os.path.join(glob.escape(run_dir), "events.out.tfevents.*")):
            os.remove(name)
    writer = SummaryWriter(run_dir, purge_step=None if first_start else state["step"] + 1)
    try:
        # Into the run's own event file: add_hparams would make a run of its own in a subfolder. The
        # HParams tab reads the metrics' values from the run's scalars. The session's end, which
        # says it succeeded, is written when the run ends (main).
        experiment, session_start, _ = hparams_summaries(config)
        writer.file_writer.add_summary(experiment)
        writer.file_writer.add_summary(session_start)
        if first_start:
            # add_graph traces with torch.jit, which warns that it is deprecated, and prints an error it meets (the
            # GPU's memory full) before raising it: run() says it in one line.
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                writer.add_graph(model, examples[:1])
            writer.add_image("train/augmented_batch", pictures.image_grid(examples, None, classes), 0,
                             dataformats="HWC")
    except BaseException:  # main() never gets the writer to close: its thread would go on writing
        with contextlib.suppress(OSError):  # (a disk full as it closes: the error that stopped it is the one to say)
            writer.close()
        raise
    return writer


def hparams_summaries(config):
    """TensorBoard's HParams entries of the run: the experiment, the session's start and its end."""
    # Every run declares the same metrics: TensorBoard takes the columns of the HParams tab from one run.
    metrics = {f"{split}/{m}": 0 for split in ("test", "val") for m in ("accuracy", "loss")}
    # Numbers as they are, the rest as text (printable: a --data-dir that is not UTF-8).
    hp = {k: v if isinstance(v, (int, float)) and not isinstance(v, bool) else printable(str(v))
          for k, v in config.items()}
    return hparams(hp, metrics)


def log_epoch(writer, epoch, metrics, classes, test_result, test_preview):
    for name, value in metrics.items():
        writer.add_scalar(name, value, epoch)
    for name, acc in zip(classes, test_result["per_class_accuracy"]):
        if acc is not None:
            writer.add_scalar(f"test_per_class/{name}", acc, epoch)
    writer.add_image("test/confusion_matrix", pictures.confusion_image(test_result["confusion"], classes), epoch,
                     dataformats="HWC")
    images, labels, preds, probs = test_preview
    writer.add_image("test/predictions", pictures.image_grid(images, labels, classes, preds, probs), epoch,
                     dataformats="HWC")
    writer.flush()


def make_checkpoint(model, optimizer, state, config, classes, stats, data_id, metrics):
    return {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer_state_on_cpu(optimizer),
        "epoch": state["epoch"], "batch": state["batch"], "step": state["step"],
        "best_val_accuracy": state["best_val_accuracy"], "epoch_sums": state["epoch_sums"],
        # "normalize": the input statistics themselves (input_stats), not the --normalize setting
        "config": config, "classes": classes, "normalize": stats, "training_data": data_id, "metrics": metrics,
    }


def save_and_report(run_dir, ckpt, best, writer, test_result, test_preview):
    """Process 0's end of an epoch: the checkpoints, TensorBoard's points and pictures, one line."""
    runs.save_checkpoints(run_dir, ckpt, best)
    epoch, metrics = ckpt["epoch"], ckpt["metrics"]
    log_epoch(writer, epoch, metrics, ckpt["classes"], test_result, test_preview)
    print(f"epoch {epoch}/{ckpt['config']['epochs']}  train loss {metrics['train/epoch_loss']:.4f} "
          f"acc {metrics['train/accuracy']:.4f}  test loss {metrics['test/loss']:.4f} "
          f"acc {metrics['test/accuracy']:.4f}" +
          (f"  val acc {metrics['val/accuracy']:.4f}" if "val/accuracy" in metrics else "") +
          f"  {metrics['perf/epoch_s']:.1f} s  {metrics['perf/images_per_s']:,.0f} img/s", flush=True)


@torch.no_grad()
def preview_predictions(model, test, stats, device, amp=False):
    """32 test images with labels, predictions and probabilities, for TensorBoard's picture."""
    model.eval()
    images, labels, _ = evenly_spaced(test)
    probs, preds = logits_of(model, prepare(images.to(device), stats), amp).softmax(1).max(1)  # as evaluate() does
    return images, labels, preds.cpu(), probs.cpu()


# ---------------------------------------------------------------- the run

def load_splits(config, rank, world, device, resume_ckpt=None):
    """(train, val or None, test, class names, what identifies the training data), on `device`
    when they fit in memory."""
    # CIFAR-10 is downloaded into the default data/ only: a --data-dir of one's own is never filled.
    load = functools.partial(load_dataset, config["data_dir"], config["data_path"], config["num_workers"],
                             download=os.path.normpath(config["data_dir"]) == DEFAULTS["data_dir"])
    # Process 0 first: it downloads or decodes and caches, then the others read its cache.
    train, test, classes = rank_0_first(load, rank, world, device)
    if config["data_path"] == "auto" and train.images is None:  # over 2 GiB: config.json says so, for test.py
        config["data_path"] = "stream"
    data_id = runs.training_data_id(train, os.path.join(config["data_dir"], "train"))
    if world > 1:  # (process 0 says why, in one line)
        ids = [None] * world
        dist.all_gather_object(ids, data_id)
        on_rank_0(lambda: runs.check_every_process_found_the_same(ids, config["data_dir"]), rank, world, device)
    if resume_ckpt is not None:  # (process 0 says why, in one line)
        on_rank_0(lambda: runs.check_same_data(resume_ckpt, classes, data_id, config), rank, world, device)
    if config["val_split"]:  # (process 0 says why one is refused, in one line)
        val, train = rank_0_first(lambda: hold_out(train, classes, config), rank, world, device)
    else:
        val = None
    if device.type != "cpu":
        train, test, val = (s.to(device) if s is not None else None for s in (train, test, val))
    return train, val, test, classes, data_id


def hold_out(train, classes, config):
    """(validation split, training split): --val-split training images, drawn by the seed, held out."""
    if config["val_split"] >= len(train):
        raise UserError(f"--val-split {config['val_split']} leaves no training images (of {len(train)})")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(config["seed"]))
    val, train = train.subset(order[:config["val_split"]]), train.subset(order[config["val_split"]:].sort().values)
    counts = torch.bincount(train.labels, minlength=len(classes))  # training images of each class
    unseen = [name for name, count in zip(classes, counts.tolist()) if count == 0]
    if unseen:  # as an empty class folder is refused: the network would never see the class
        raise UserError(f"--val-split {config['val_split']} holds out every training image of {', '.join(unseen)} "
                        f"(seed {config['seed']}): give it more images, or hold out fewer")
    return val, train


def input_stats(train, config, resume_ckpt=None):
    """What normalize() applies to every batch: the training split's per-channel mean and std, then
    (--whiten) the whitening filter made from it; a resumed run keeps its own. The checkpoint
    stores them as "normalize", for test.py."""
    if resume_ckpt is not None:
        return resume_ckpt["normalize"]
    # (streamed, each decodes a sample of the training images, in the run's decoding processes)
    stats = channel_stats(train, config["num_workers"]) if config["normalize"] else IDENTITY
    if config["whiten"]:
        stats = {**stats, "whiten": whitening_filter(train, stats, config["num_workers"])}
    return stats


def resumed_at(state):
    """Where a resumed run goes on from."""
    if state["batch"]:
        return f"resumed in epoch {state['epoch'] + 1} after step {state['step']}; "
    return f"resumed after epoch {state['epoch']}; "


def resume_from(ckpt, model, optimizer, state, config, batches_per_epoch):
    """Loads the checkpoint's weights, optimizer state and place in training (`state`), or says why
    the run cannot go on from it."""
    model.load_state_dict(load_model(ckpt).state_dict())
    load_optimizer_state(optimizer, ckpt["optimizer"])
    state.update({k: ckpt[k] for k in state if k in ckpt})
    if state["batch"] > batches_per_epoch:  # a mid-epoch checkpoint, on other data
        at_end = os.path.join(os.path.dirname(ckpt["path"]), f"epoch_{state['epoch']:03d}.pth")  # (in its run)
        how = (f"continue from the end of epoch {state['epoch']} in a new run: --resume {shell_word(at_end)} "
               "--run-name NEW") if os.path.isfile(at_end) else "resume from a checkpoint saved at an epoch's end"
        raise UserError(f"{ckpt['path']} stopped at batch {state['batch']} of epoch {state['epoch'] + 1}, "
                        f"but the training split now has {batches_per_epoch} batches; {how}")
    if state["epoch"] >= config["epochs"]:
        raise UserError(f"the run already has {state['epoch']} epoch{'s' * (state['epoch'] != 1)}; pass --epochs N "
                        f"(N > {state['epoch']}) to extend it")


def epoch_metrics(train_result, test_result, val_result, train_s, epoch_s):
    """The epoch's numbers, for TensorBoard and its checkpoint. The training loss includes label
    smoothing (on CIFAR-10 at 0.1 it cannot fall below about 0.5); the test loss is plain cross-entropy: a test
    loss below the training loss is no bug."""
    metrics = {"train/epoch_loss": train_result["loss"], "train/accuracy": train_result["accuracy"],
               "test/loss": test_result["loss"], "test/accuracy": test_result["accuracy"]}
    if val_result is not None:
        metrics.update({"val/loss": val_result["loss"], "val/accuracy": val_result["accuracy"]})
    metrics.update({"perf/epoch_s": epoch_s, "perf/images_per_s": train_result["images"] / train_s})
    return metrics


def main(argv=None):
    explicit, resume = parse_args(argv)
    # TensorBoard's pictures are drawn with torchvision (pictures.py): loaded now rather than after the data,
    # so that a torchvision made for another torch is said at once (interrupt.install_problem).
    importlib.import_module("torchvision.utils")
    resume, resume_ckpt, stamps = runs.read_resume(resume)  # all None for a new run
    config = make_config(explicit, resume_ckpt)
    if config["deterministic"]:  # the same command gives the same weights
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it, set before its first use
        torch.use_deterministic_algorithms(True)
    rank, world, device = setup_processes(config)
    graphs = use_cuda_graphs(config, device, world)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not config["deterministic"]  # autotuning picks kernels that may vary

    # Process 0 says why a run folder is refused, in one line. The others' run_dir is theirs alone (their own
    # time in a default name, no "_2" suffix): only process 0 writes or names the folder.
    choose = functools.partial(runs.choose_run_dir, config, explicit, resume, resume_ckpt)
    run_dir, new_run = rank_0_first(choose, rank, world, device)

    train, val, test, classes, data_id = load_splits(config, rank, world, device, resume_ckpt)
    if rank == 0:
        warn_of_images_trained_on(train, {"test": test, "validation": val}, config["data_dir"], config["flip"])
    stats = input_stats(train, config, resume_ckpt)
    # Each epoch, a new shuffle of the training images (seed and epoch), each batch cut into one share per process.
    train_batches = Batches(len(train), config["batch_size"], config["seed"], shuffle=True, rank=rank, world=world)
    train_loader = BatchLoader(train, train_batches, device, config["num_workers"])
    model, train_model, optimizer, criterion = build_model(config, len(classes), device, world, graphs)
    # In every checkpoint: a resume's start. epoch_sums: the epoch's training loss, right answers and images so far.
    state = {"epoch": 0, "batch": 0, "step": 0, "best_val_accuracy": -1.0, "epoch_sums": [0.0, 0.0, 0.0]}
    batches_per_epoch = math.ceil(len(train) / config["batch_size"])
    if resume_ckpt is None:  # (said after the data has loaded: a mistake found before is one line)
        say_what_a_long_run_takes(config, explicit)
    steps = config["epochs"] * batches_per_epoch
    if steps < config["log_every"]:  # a small folder: not one point of train/loss
        say(f"note: {steps} step{'s' * (steps != 1)} in all, fewer than --log-every {config['log_every']}: no "
            "train/loss or lr curve in TensorBoard (train/epoch_loss has each epoch's); a lower --log-every draws them")
    if resume_ckpt is not None:
        resume_from(resume_ckpt, model, optimizer, state, config, batches_per_epoch)
        if new_run:  # branched off into a folder of its own: its best.pth is the best of its own epochs
            state["best_val_accuracy"] = -1.0
    # Every checkpoint holds the weights, the optimizer and `state` as they are when it is made.
    checkpoint_now = functools.partial(make_checkpoint, model, optimizer, state, config, classes, stats, data_id)
    # score(split): evaluate() of the network on the test or validation split
    score = functools.partial(evaluate, model, stats=stats, device=device, num_classes=len(classes), rank=rank,
                              world=world, amp=config["amp"], num_workers=config["num_workers"])

    writer = lock = None
    try:  # however training ends, the lock and the writer are let go: main() may run in-process (tests)
        # Process 0 writes: the run's folder is its own (locked), then config.json and TensorBoard's files.
        claimed = on_rank_0(lambda: runs.claim_run_dir(run_dir, new_run, "run_name" in explicit, stamps),
                            rank, world, device)
        if rank == 0:  # (a default name already taken gets a suffix: "_2")
            run_dir, lock = claimed
            # Where the run lies, as config.json and every checkpoint (checkpoint_now) will say:
            config["log_dir"], config["run_name"] = os.path.split(run_dir)

        def start_logging():
            runs.write_config(run_dir, config)
            examples = augmented_examples(train, config, device) if new_run else None
            held_out = f"{len(val)} validation images, " if val is not None else ""
            print(f"run {run_dir}: {resumed_at(state) if resume_ckpt else ''}{len(train)} training images, {held_out}"
                  f"{len(test)} test images, {len(classes)} classes, device {device}, {world} process(es)", flush=True)
            return open_writer(run_dir, config, state, new_run, examples, model, classes)  # (the last: main closes it)
        writer = on_rank_0(start_logging, rank, world, device)
        # What training needs, beside the network and `state`. Changed as it goes: stop_requested (set by the
        # signal handlers, stop_on_signal) and loss_window ([loss, images] since the last train/loss point).
        ctx = {"config": config, "device": device, "stats": stats, "world": world, "writer": writer,
               "show_bar": rank == 0 and sys.stderr.isatty(), "stop_requested": None,  # (tqdm draws on stderr)
               "loss_window": [torch.zeros((), device=device), 0]}
        ctx["graphed_step"] = graphed_train_step(train_model, optimizer, criterion, ctx) if graphs else None

        stop_on_signal(ctx)
        while state["epoch"] < config["epochs"]:
            t0 = time.perf_counter()
            train_result = train_one_epoch(train_model, optimizer, criterion, train_loader, state, ctx)
            # A stop inside the epoch saves where it is; one after its last step (under torchrun the
            # processes agree only every --log-every steps) lets it finish: evaluated, saved, then stopped.
            if state["batch"] < batches_per_epoch and stop_agreed(ctx):
                if rank == 0:
                    # (no metrics: the epoch is not over)
                    atomic_save(checkpoint_now({}), os.path.join(run_dir, "checkpoints", "interrupt.pth"))
                raise Interrupted(ctx["stop_requested"], f"at step {state['step']}",
                                  runs.resume_command(run_dir, world))
            train_s = time.perf_counter() - t0

            test_result = score(test)
            val_result, best = None, False
            if val is not None:  # best.pth: the epoch of the best validation accuracy, never chosen on the test split
                val_result = score(val)
                best = val_result["accuracy"] > state["best_val_accuracy"]
                state["best_val_accuracy"] = max(state["best_val_accuracy"], val_result["accuracy"])
            if not math.isfinite(test_result["loss"]):
                raise Diverged(f"test loss became {test_result['loss']} in epoch {state['epoch'] + 1}")
            metrics = epoch_metrics(train_result, test_result, val_result, train_s, time.perf_counter() - t0)
            state.update(epoch=state["epoch"] + 1, batch=0, epoch_sums=[0.0, 0.0, 0.0])

            def save_epoch():  # the checkpoints (torch.save), TensorBoard, then the epoch's printed line
                preview = preview_predictions(model, test, stats, device, config["amp"])
                save_and_report(run_dir, checkpoint_now(metrics), best, writer, test_result, preview)
            on_rank_0(save_epoch, rank, world, device)  # (the others would copy the weights for nothing)
            if state["epoch"] < config["epochs"] and stop_agreed(ctx):  # after the last epoch: done, not stopped
                raise Interrupted(ctx["stop_requested"], f"after epoch {state['epoch']}",
                                  runs.resume_command(run_dir, world))
        if writer:  # the HParams tab lists the run as a success (a stopped one is not)
            _, _, session_end = hparams_summaries(config)
            writer.file_writer.add_summary(session_end)
    finally:
        try:
            if writer:
                writer.close()  # (it writes the last events: it fails on a full disk)
        finally:
            if lock:
                lock.close()
    if rank == 0:
        print(f"done: test accuracy {metrics['test/accuracy']:.4f}; checkpoints in {run_dir}/checkpoints; classify "
              f"images with: python test.py {shell_word(run_dir)} IMAGE ...", flush=True)


def quiet_tensorboard_thread(args, report):
    """threading.excepthook during run(): TensorBoard writes from a thread of its own, which meets a full
    disk first; the run says so in one line (run: OSError) when it next logs or closes the writer, without
    a traceback from the thread. Any other thread's exception goes to `report`, the hook before."""
    if not (isinstance(args.exc_value, OSError) and type(args.thread).__name__ == "_AsyncWriterThread"):
        report(args)


def run(argv=None):
    """main() with user errors as one line and an exit code, never a traceback."""
    previous_hook = threading.excepthook  # (set back after: a program that calls run() keeps its own)
    threading.excepthook = functools.partial(quiet_tensorboard_thread, report=previous_hook)
    with interrupt.taken_over():
        try:
            main(argv)
            interrupt.flush_output()
        except UserError as e:
            print(f"train.py: error: {interrupt.on_one_line(str(e))}", file=sys.stderr)
            sys.exit(e.code)
        except Interrupted as e:
            if interrupt.speaks():  # one line, not one a process
                print(f"train.py: {e}", file=sys.stderr)
            sys.exit(e.code)
        except KeyboardInterrupt:  # before training started (nothing to save), or a second Ctrl-C: stop at once
            if interrupt.speaks():
                print("train.py: interrupted", file=sys.stderr)
            sys.exit(130)
        except BrokenPipeError:
            # | head, or | tee that the same Ctrl-C stopped: an epoch's line is printed after its checkpoint is saved.
            try:
                print("train.py: stopped: nothing reads its output any more (a closed pipe); the checkpoints saved are "
                      "kept (--resume continues a run with epochs left)", file=sys.stderr)
            except OSError:  # (2>&1: stderr is that pipe too)
                pass
            interrupt.output_closed()
        except OSError as e:  # not a checkpoint's (atomic_write says which): TensorBoard's log or stdout on a full disk
            interrupt.failed("train.py", e, note="; any checkpoints saved are kept")
        except RuntimeError as e:  # torch.OutOfMemoryError among them
            if not interrupt.gpu_memory_full(e):
                raise
            interrupt.out_of_memory("train.py", e, "try a smaller --batch-size; any checkpoints saved are kept")
        except Diverged as e:
            # Every process finds it at the same step (the losses checked are over them all): process 0 says it,
            # and the others end quietly with 0, so that torchrun's report names process 0 (as on_rank_0 does).
            if not interrupt.speaks():
                sys.exit(0)
            # A loss can grow for epochs before it overflows: the last checkpoints kept may be diverging too.
            print(f"train.py: error: training diverged: {e}. The checkpoints of earlier epochs (if any) are kept, "
                  "though the last may be diverging already (a test loss far above the first epoch's): try a lower "
                  "--lr, from the start or from an earlier epoch (--resume RUN/checkpoints/epoch_NNN.pth "
                  "--run-name NEW).", file=sys.stderr)
            sys.exit(3)
        finally:  # (stop_on_signal's handlers go as taken_over ends)
            threading.excepthook = previous_hook
            if dist.is_initialized():
                dist.destroy_process_group()


if __name__ == "__main__":
    # main(), with errors as one line and a quiet Ctrl-C (run, interrupt.run_as_script). Under torchrun, once
    # run() has ended (its files written and closed, the process group destroyed), the process ends without
    # Python's shutdown: DDP keeps the group's threads alive after destroy_process_group, and one that lets go
    # of a tensor as Python shuts down aborts the process, a finished run then reported as failed
    # (pytorch/pytorch#190489; docs/reliability.md).
    interrupt.run_as_script(run, skip_shutdown=dist.is_torchelastic_launched())
