"""Where does the time of a CIFAR-10 epoch go? Three pipelines, one run, one machine:

  tutorial  the PyTorch tutorial's way: ToTensor per image, DataLoader (batch 64, no
            workers), SGD lr 0.01, then evaluation on the test split; as the tutorial's loop
            in ../shared/bench reads the JPEG copy, through ImageFolder, shuffled (a folder
            lists its images by class, where CIFAR-10's arrays come in random order);
  project   train.py's own code: data.load_dataset (decoded once, cached, kept in memory),
            train.train_one_epoch with the DEFAULTS recipe at batch 64 (normalization and
            whitening, augmentation, channels_last, train.make_optimizer) and train.evaluate;
  floor     the same model and batch on tensors already in memory: forward, backward and
            optimizer step only (the best of the default layout, channels_last and, on
            CUDA, channels_last with each step replayed as one CUDA graph).

Each is timed over a limited number of steps (training after a warm-up), then extrapolated to a
full epoch: every training image once, then every test image once (CIFAR-10: 50,000 +
10,000). Then: the project's epoch at batch 64, 128, 256 and 1024, and the time to load the
dataset the first time (decoding into a fresh cache) against the second (from the cache).

    python bench.py                            # a few minutes on a CPU
    python bench.py --quick                    # 100 steps, 2,000 test images, no cold decode
    python bench.py --quick --steps 20         # shorter still
    python bench.py --quick --decode           # --quick, with the cold decode
    python bench.py --device cuda --json bench.json
    python bench.py --data-dir DIR             # DIR/train/<class>/*, DIR/test/<class>/*

Peak memory is per pipeline: the process's peak RSS (getrusage; restarted between
pipelines on Linux, elsewhere the peak so far) and, on CUDA, torch.cuda.max_memory_allocated.
"""
import interrupt  # before all else: Ctrl-C while torch loads is one line

import datetime
import gc
import json
import os
import platform
import sys
import tempfile
import time

try:
    import resource
except ImportError:  # Windows
    resource = None

import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Subset

import cli
import data
import train
from checkpoint import atomic_write
from model import Tudui

WARMUP = 5                          # untimed training steps before each training timing
BATCH = 64                          # the tutorial's batch: the three pipelines are compared at it
FULL_STEPS, QUICK_STEPS = 400, 100  # training steps timed at BATCH
MAX_STEPS = 2000                    # the timed batches are copied: 0.4 GB of images at BATCH
QUICK_EVAL = 2000                   # test images evaluated with --quick (otherwise all of them)
SCALING_BATCHES = (64, 128, 256, 1024)
FLOOR_BATCHES = 16                  # distinct random batches the floor cycles through


def parse_args(argv=None):
    p = cli.Parser(description="Time one epoch: tutorial pipeline, project pipeline, compute floor.")
    p.add_argument("--data-dir", type=cli.folder_path, default=os.path.join("data", "cifar10_jpeg"),
                   help="train/<class>/ and test/<class>/ image folders (default data/cifar10_jpeg)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CUDA when there is one")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_STEPS} steps, {QUICK_EVAL:,} test images, no cold decode (unless --decode)")
    p.add_argument("--steps", type=cli.checked(int, above=0, at_most=MAX_STEPS),
                   help=f"training steps timed at batch {BATCH} (default {FULL_STEPS}, --quick {QUICK_STEPS}, "
                        f"at most {MAX_STEPS:,}); larger batches are timed on about as many images")
    p.add_argument("--decode", action="store_true", help="with --quick, still time the first (cold) decode")
    p.add_argument("--json", metavar="FILE", type=cli.output_file, help="also write the results to FILE")
    args = p.parse_args(argv)
    if args.json:
        cli.keep_others_file(p, "--json", args.json, written_by_bench, "results bench.py wrote")
    return args


def written_by_bench(path):
    """What a rerun may replace: bench.py's JSON (a few kB, with its "pipelines" and "ratios")."""
    try:
        if os.path.getsize(path) > 1_000_000:
            return False
        with open(path, "rb") as f:
            results = json.loads(f.read())
    except (OSError, ValueError, RecursionError):  # (not UTF-8, not JSON: ValueErrors; [[[[…: RecursionError)
        return False
    return isinstance(results, dict) and {"pipelines", "ratios"} <= results.keys()


# ---------------------------------------------------------------- helpers

def dataset_sizes(data_dir):
    """(training images, test images) of an image-folder dataset. Before any timing, a UserError when it
    is not one, or is one that the tutorial's pipeline cannot run on or would wait for ever on."""
    if not os.path.exists(data_dir):
        raise data.UserError(f"data directory {data_dir} does not exist: extract CIFAR-10's JPEG copy there "
                             "(README, Data), or pass --data-dir DIR with DIR/train/<class>/ and DIR/test/<class>/")
    data.require_directory(data_dir)
    _, (train_files, _), (test_files, _) = data.list_splits(data_dir)  # as train.py lists them
    hidden = [path for split in ("train", "test") for path in hidden_folders(os.path.join(data_dir, split))]
    if hidden:
        raise data.UserError(f"{data.printable(hidden[0])} is a hidden folder, which the tutorial's pipeline "
                             "(ImageFolder) takes for a class; move it out of the folder")
    special = next((path for path in train_files + test_files if data.is_special(path)), None)
    if special:
        raise data.UserError(f"{data.printable(special)} is a pipe, socket or device, not an image: the tutorial's "
                             "pipeline (ImageFolder) would wait on it for ever; move it out of the folder")
    for path in (train_files[0], test_files[0]):  # (mixed sizes: ImageFolder's batches say so themselves)
        size = first_image_size(path)
        if size not in (None, (data.IMAGE_SIZE, data.IMAGE_SIZE)):
            raise data.UserError(f"{data.printable(path)} is {size[0]}×{size[1]} pixels: the tutorial's pipeline has "
                                 f"no resize, and needs {data.IMAGE_SIZE}×{data.IMAGE_SIZE} images as CIFAR-10's are")
    return len(train_files), len(test_files)


def hidden_folders(split_dir):
    """Folders such as .ipynb_checkpoints/: train.py leaves them out, the tutorial's ImageFolder takes them
    for classes."""
    return [os.path.join(split_dir, name) for name in data.list_folder(split_dir)
            if data.is_hidden(name) and os.path.isdir(os.path.join(split_dir, name))]


def first_image_size(path):
    """(width, height) of an image, or None when it cannot be read, or is too large to: the tutorial's
    pipeline says so in its own words."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError):  # (ValueError: a PNG's text over Pillow's limit)
        return None


def pick_device(name):
    """auto: CUDA when there is one, else the CPU; not Apple's MPS, which sync() does not wait for."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return train.pick_device(name)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, steps, device, warmup=WARMUP):
    """Seconds taken by `steps` calls of step(i), after `warmup` untimed calls."""
    for i in range(warmup):
        step(i)
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    sync(device)
    return time.perf_counter() - t0


def forever(loader):
    while True:
        yield from loader


def reset_peak_memory(device):
    gc.collect()
    try:  # Linux: restart the peak-RSS count, so that each pipeline reports its own peak
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device):
    rss = None
    if resource is not None:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss = maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, KiB on Linux
    cuda = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"peak_rss_mib": rss, "peak_cuda_mib": cuda}


def row(name, train_s, eval_s, sizes, setup_s):
    return {"pipeline": name, "epoch_s": train_s + eval_s, "train_s": train_s, "eval_s": eval_s,
            "train_images_per_s": sizes[0] / train_s, "setup_s": setup_s}


def note(text):
    print(text, file=sys.stderr, flush=True)


def machine(device):
    """When and where the numbers were measured, and how busy the machine was as the bench started:
    a machine's speed drifts, and a second program on its cores slows every pipeline unevenly."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:  # Linux names the model here; platform.processor() often does not
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "cores": os.cpu_count(), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}  # (Windows has no load average)


# ---------------------------------------------------------------- the three pipelines

def bench_tutorial(data_dir, device, sizes, steps, eval_n):
    """The tutorial's loop: every image decoded and converted by ToTensor at every step."""
    torch.backends.cudnn.benchmark = False  # the tutorial leaves it off
    t0 = time.perf_counter()
    to_tensor = torchvision.transforms.ToTensor()
    train_data = torchvision.datasets.ImageFolder(os.path.join(data_dir, "train"), transform=to_tensor)
    test_data = torchvision.datasets.ImageFolder(os.path.join(data_dir, "test"), transform=to_tensor)
    setup_s = time.perf_counter() - t0
    train_loader = DataLoader(train_data, batch_size=BATCH, shuffle=True)
    test_loader = DataLoader(Subset(test_data, data.spread(len(test_data), eval_n).tolist()), batch_size=BATCH)
    torch.manual_seed(0)
    model = Tudui(len(train_data.classes)).to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    batches = forever(train_loader)
    step_images = []  # images in each step's batch: an epoch's last batch is short (a small folder's only one)

    def step(_):
        imgs, targets = next(batches)
        require_network_size(imgs)
        step_images.append(len(imgs))
        imgs, targets = imgs.to(device), targets.to(device)
        loss = loss_fn(model(imgs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.train()
    train_s = timed(step, steps, device) / sum(step_images[-steps:]) * sizes[0]  # (the timed steps, after the warm-up)

    model.eval()
    t0 = time.perf_counter()
    total_loss, correct = 0.0, 0  # the tutorial's evaluation as it is, timed: its totals are not used
    with torch.no_grad():
        for imgs, targets in test_loader:
            require_network_size(imgs)
            imgs, targets = imgs.to(device), targets.to(device)
            outputs = model(imgs)
            total_loss += loss_fn(outputs, targets).item()
            correct += (outputs.argmax(1) == targets).sum()
    sync(device)
    eval_s = (time.perf_counter() - t0) / eval_n * sizes[1]
    return row("tutorial (ImageFolder+ToTensor)", train_s, eval_s, sizes, setup_s)


def require_network_size(imgs):
    """A ValueError, which main() says in one line, for a batch of images of one size that is not 32×32:
    dataset_sizes checks each split's first image alone, and such a batch, without it, stopped inside the
    network with a traceback (a batch of mixed sizes stops in the DataLoader, in its own words)."""
    if imgs.shape[-2:] != (data.IMAGE_SIZE, data.IMAGE_SIZE):
        raise ValueError(f"a batch of {imgs.shape[-1]}×{imgs.shape[-2]} images, where its network takes "
                         f"{data.IMAGE_SIZE}×{data.IMAGE_SIZE}")


def load_project_data(data_dir, device):
    """What train.main does before its first epoch: load the dataset (decoded, cached, in memory),
    move it to the device, compute the normalization statistics."""
    config = {**train.DEFAULTS, "data_dir": data_dir}
    train_split, _, test_split, classes, _ = train.load_splits(config, 0, 1, device)
    return {"train": train_split, "test": test_split, "classes": classes,
            "stats": train.input_stats(train_split, config)}


def loader_for(split, batch_size, device):
    """The training batches of `split` as train.main makes them."""
    batches = data.Batches(len(split), batch_size, train.DEFAULTS["seed"], shuffle=True)
    return data.BatchLoader(split, batches, device, train.DEFAULTS["num_workers"])


def project_train_seconds(loaded, device, sizes, batch_size, steps):
    """train.train_one_epoch itself, run on `steps` batches of random training images after a
    warm-up run of WARMUP batches; returns the seconds for a whole training epoch, and the model."""
    config = {**train.DEFAULTS, "batch_size": batch_size}
    graphs = train.use_cuda_graphs(config, device, 1)
    model, train_model, optimizer, criterion = train.build_model(config, len(loaded["classes"]), device, 1, graphs)
    ctx = {"config": config, "device": device, "stats": loaded["stats"], "world": 1, "writer": None,
           "show_bar": False, "stop_requested": None, "loss_window": [torch.zeros((), device=device), 0]}
    ctx["graphed_step"] = train.graphed_train_step(train_model, optimizer, criterion, ctx) if graphs else None

    split = loaded["train"]
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))
    picks = order[torch.arange((WARMUP + steps) * batch_size) % len(split)]  # wraps around on small datasets
    warm, timed_part = split.subset(picks[:WARMUP * batch_size]), split.subset(picks[WARMUP * batch_size:])
    state = {"epoch": 0, "batch": 0, "step": 0, "best_val_accuracy": -1.0}
    train.train_one_epoch(train_model, optimizer, criterion, loader_for(warm, batch_size, device), state, ctx)
    state.update(epoch=1, batch=0)  # as train.main does between epochs
    sync(device)
    t0 = time.perf_counter()
    train.train_one_epoch(train_model, optimizer, criterion, loader_for(timed_part, batch_size, device), state, ctx)
    sync(device)
    return (time.perf_counter() - t0) / len(timed_part) * sizes[0], model


def project_eval_seconds(model, loaded, device, sizes, eval_n):
    """train.evaluate on `eval_n` test images, after an untimed first batch; seconds for the whole test split."""
    test_split, stats, num_classes = loaded["test"], loaded["stats"], len(loaded["classes"])
    warm = test_split.subset(data.spread(len(test_split), min(train.EVAL_BATCH, eval_n)))
    part = test_split.subset(data.spread(len(test_split), eval_n))
    train.evaluate(model, warm, stats, device, num_classes, amp=train.DEFAULTS["amp"])
    sync(device)
    t0 = time.perf_counter()
    train.evaluate(model, part, stats, device, num_classes, amp=train.DEFAULTS["amp"])
    sync(device)
    return (time.perf_counter() - t0) / eval_n * sizes[1]


def bench_project(data_dir, device, sizes, steps, eval_n):
    torch.backends.cudnn.benchmark = True  # train.main turns it on for CUDA
    t0 = time.perf_counter()
    loaded = load_project_data(data_dir, device)
    sync(device)
    setup_s = time.perf_counter() - t0
    train_s, model = project_train_seconds(loaded, device, sizes, BATCH, steps)
    eval_s = project_eval_seconds(model, loaded, device, sizes, eval_n)
    result = row("project (train.py)", train_s, eval_s, sizes, setup_s)
    return result, loaded


def floor_seconds(device, sizes, steps, eval_n, memory_format, graphed=False):
    """(train, eval) seconds per epoch of the bare model on random tensors already on the device;
    with `graphed`, each training step replayed as one CUDA graph."""
    torch.manual_seed(0)
    model = Tudui().to(device, memory_format=memory_format)
    optimizer = train.make_optimizer(model, train.DEFAULTS, device, graphed)  # the project's SGD step
    criterion = nn.CrossEntropyLoss()
    xs = [torch.rand(BATCH, 3, data.IMAGE_SIZE, data.IMAGE_SIZE, device=device).contiguous(memory_format=memory_format)
          for _ in range(FLOOR_BATCHES)]
    ys = [torch.randint(0, 10, (BATCH,), device=device) for _ in range(FLOOR_BATCHES)]

    def bare_step(x, y):
        loss = criterion(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    run = train.GraphedStep(bare_step) if graphed else bare_step
    seconds = timed(lambda i: run(xs[i % FLOOR_BATCHES], ys[i % FLOOR_BATCHES]), steps, device)
    train_s = seconds / (steps * BATCH) * sizes[0]
    batch = min(train.EVAL_BATCH, eval_n)
    x = torch.rand(batch, 3, data.IMAGE_SIZE, data.IMAGE_SIZE, device=device).contiguous(memory_format=memory_format)
    eval_steps = max(1, eval_n // batch)
    model.eval()
    with torch.no_grad():
        eval_s = timed(lambda i: model(x), eval_steps, device, warmup=1) / (eval_steps * batch) * sizes[1]
    return train_s, eval_s


def bench_floor(device, sizes, steps, eval_n):
    torch.backends.cudnn.benchmark = True
    variants = {"default": (torch.contiguous_format, False), "channels_last": (torch.channels_last, False)}
    if device.type == "cuda":  # what the project does on CUDA: no per-kernel launch cost
        variants["channels_last+graph"] = (torch.channels_last, True)
    layouts = {name: floor_seconds(device, sizes, steps, eval_n, fmt, graphed)
               for name, (fmt, graphed) in variants.items()}
    best = min(layouts, key=lambda name: sum(layouts[name]))
    result = row(f"compute floor ({best})", *layouts[best], sizes, 0.0)
    result["layouts"] = {name: {"train_s": t, "eval_s": e, "epoch_s": t + e} for name, (t, e) in layouts.items()}
    return result


# ---------------------------------------------------------------- cost as work grows

def bench_batches(loaded, device, sizes, steps, project):
    """The project's epoch at each of SCALING_BATCHES, timed on about the same number of images (3 steps
    at least)."""
    rows = []
    for batch in SCALING_BATCHES:
        if batch == BATCH:
            train_s = project["train_s"]  # measured already
        else:
            note(f"timing the project pipeline at batch {batch}")
            train_s, _ = project_train_seconds(loaded, device, sizes, batch, max(3, steps * BATCH // batch))
        rows.append({"batch": batch, "train_s": train_s, "epoch_s": train_s + project["eval_s"],
                     "train_images_per_s": sizes[0] / train_s})
    return rows


def time_load(data_dir):
    t0 = time.perf_counter()
    data.load_dataset(data_dir, "memory", train.DEFAULTS["num_workers"])
    return time.perf_counter() - t0


def bench_decode(data_dir, cold):
    """Seconds to load the dataset as train.py does: first run (decoding it into a fresh, temporary
    cache; only when `cold`), and second run (from that cache, or from data/cache/)."""
    # The timings leave CUDA graphs as garbage: collected in a forked decoding process, where CUDA
    # cannot run, each printed "CUDA warning: initialization error" (an H200, 2026-11-27).
    gc.collect()
    saved = data.CACHE_DIR
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if cold:
                data.CACHE_DIR = tmp
                note(f"decoding the dataset into a fresh cache in {tmp} (the cold load)")
            first = time_load(data_dir) if cold else None
            # None where the cache could not be written (a full disk, a data/ that is read-only: warned as it
            # was decoded): the second run would decode again, and be no time of a load from the cache.
            cached = all(os.path.exists(data.cache_path(os.path.join(data_dir, split))) for split in ("train", "test"))
            return {"first_run_s": first, "cached_s": time_load(data_dir) if cached else None}
        finally:
            data.CACHE_DIR = saved


# ---------------------------------------------------------------- output

def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def report(r):
    sizes, m = r["epoch_images"], r["machine"]
    load = "" if m["load"] is None else f", load {m['load']:.1f} as it started"
    lines = [f"measured {m['date']} on {m['cpu']} ({m['cores']} cores{', ' + m['gpu'] if m['gpu'] else ''}){load}",
             f"device {r['device']}, torch {r['torch']}, {r['threads']} CPU threads; "
             f"epoch = {sizes['train']:,} training + {sizes['test']:,} test images",
             f"timed: {r['steps']} training steps at batch {BATCH} after {WARMUP} warm-up steps, "
             f"evaluation on {r['eval_images']:,} test images; extrapolated to the full epoch", ""]
    head = f"{'pipeline':<36}{'epoch s':>9}{'train s':>9}{'eval s':>8}{'train img/s':>13}{'setup s':>9}" \
           f"{'peak RSS MiB':>14}{'peak CUDA MiB':>15}"
    lines += [head, "-" * len(head)]
    for p in r["pipelines"]:
        lines.append(f"{p['pipeline']:<36}{p['epoch_s']:>9.2f}{p['train_s']:>9.2f}{p['eval_s']:>8.2f}"
                     f"{p['train_images_per_s']:>13,.0f}{p['setup_s']:>9.1f}{fmt(p['peak_rss_mib'], ',.0f'):>14}"
                     f"{fmt(p['peak_cuda_mib'], ',.0f'):>15}")
    floor = r["pipelines"][-1]["layouts"]
    lines += ["", "floor by layout (epoch s): " + ", ".join(f"{k} {v['epoch_s']:.2f}" for k, v in floor.items()),
              f"project / floor:    {r['ratios']['project_over_floor']:.2f}x",
              f"tutorial / project: {r['ratios']['tutorial_over_project']:.2f}x", "",
              "cost as work grows (project pipeline)",
              f"{'batch':>6}{'train s':>10}{'epoch s':>10}{'train img/s':>13}"]
    for b in r["batches"]:
        lines.append(f"{b['batch']:>6}{b['train_s']:>10.2f}{b['epoch_s']:>10.2f}{b['train_images_per_s']:>13,.0f}")
    d = r["decode"]
    first = "skipped (--quick without --decode)" if d["first_run_s"] is None else f"{d['first_run_s']:.1f} s"
    cached = "not timed: no cache (it could not be written)" if d["cached_s"] is None else f"{d['cached_s']:.1f} s"
    lines += ["", f"loading {sizes['train'] + sizes['test']:,} images (data.load_dataset)",
              f"  first run, decoding into a fresh cache: {first}",
              f"  second run, from the cache:             {cached}"]
    return "\n".join(lines)


# ---------------------------------------------------------------- the run

def main(argv=None):
    args = parse_args(argv)
    device = pick_device(args.device)
    n_train, n_test = dataset_sizes(args.data_dir)
    sizes = (n_train, n_test)
    steps = args.steps or (QUICK_STEPS if args.quick else FULL_STEPS)
    eval_n = min(n_test, QUICK_EVAL) if args.quick else n_test
    where = machine(device)
    if where["load"] is not None and where["load"] > 0.5:
        note(f"note: the machine is busy (load {where['load']:.1f}): the times will be slower and less steady than "
             "alone")

    note("timing the compute floor")
    reset_peak_memory(device)
    floor = {**bench_floor(device, sizes, steps, eval_n), **peak_memory(device)}
    note("timing the tutorial pipeline")
    reset_peak_memory(device)
    try:
        tutorial = {**bench_tutorial(args.data_dir, device, sizes, steps, eval_n), **peak_memory(device)}
    # ImageFolder + ToTensor stop at an odd image (ValueError: a PNG's text over Pillow's limit, say)
    except (OSError, RuntimeError, ValueError, Image.DecompressionBombError) as e:
        if isinstance(e, RuntimeError) and "stack expects each tensor to be equal size" not in str(e):
            raise  # the GPU's own errors, say, are no fault of the images
        raise data.UserError(f"the tutorial's pipeline (ImageFolder + ToTensor) cannot run on {args.data_dir}: "
                             f"{str(e).strip().splitlines()[0]}; it needs every image readable and all of one "
                             "size, as CIFAR-10's are") from None
    note("timing the project pipeline")
    reset_peak_memory(device)
    project, loaded = bench_project(args.data_dir, device, sizes, steps, eval_n)
    project.update(peak_memory(device))

    results = {
        "machine": where, "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "epoch_images": {"train": n_train, "test": n_test}, "steps": steps, "eval_images": eval_n,
        "pipelines": [tutorial, project, floor],
        "ratios": {"project_over_floor": project["epoch_s"] / floor["epoch_s"],
                   "tutorial_over_project": tutorial["epoch_s"] / project["epoch_s"]},
        "batches": bench_batches(loaded, device, sizes, steps, project),
    }
    del loaded
    note("timing data.load_dataset")
    results["decode"] = bench_decode(args.data_dir, cold=args.decode or not args.quick)
    try:
        if args.json:  # first: printing fails when the output's reader has gone (| head)
            atomic_write(args.json, lambda f: f.write(json.dumps(results, indent=2).encode()))
    finally:  # printed even when the JSON cannot be written (a disk full): the minutes of timing are not lost
        print(report(results))


def run(argv=None):
    """main() with user errors as one line on stderr and an exit code, never a traceback."""
    with interrupt.taken_over(), cli.errors_in_one_line("bench.py"):
        try:
            main(argv)
        except train.Diverged as e:  # the timings of a diverged run mean nothing
            raise data.UserError(f"training diverged on this data: {e}", code=3)


if __name__ == "__main__":
    interrupt.run_as_script(run)
