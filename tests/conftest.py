"""Shared fixtures: tiny image-folder datasets made in temp dirs, and running the CLIs in-process."""
import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
FIXTURES = os.path.join(SHARED, "fixtures", "tutorial")

CLASSES = ["circle", "cross", "stripes"]


def make_image(cls, i, size=32):
    """A small, learnable picture of class `cls`, varied by `i`."""
    rng = np.random.default_rng(1000 * cls + i)
    a = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    yy, xx = np.mgrid[:size, :size]
    if cls == 0:
        mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    elif cls == 1:
        mask = (abs(yy - size / 2) < 3) | (abs(xx - size / 2) < 3)
    else:
        mask = (yy // 4) % 2 == 0
    a[mask] = [200 + i % 50, 100 + 20 * cls, 50]
    return Image.fromarray(a)


def make_dataset(root, n_train=8, n_test=4, classes=CLASSES, size=32):
    for split, n in (("train", n_train), ("test", n_test)):
        for c, name in enumerate(classes):
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                make_image(c, i + (0 if split == "train" else 500), size).save(os.path.join(folder, f"{i:03d}.png"))
    return str(root)


@pytest.fixture(autouse=True)
def torch_switches_restored(monkeypatch):
    """train.py and bench.py, run in-process, set switches for the whole process (--deterministic's,
    cuDNN's autotuning, a signal's handler): each test starts from torch's own, not from what a test before it
    left."""
    import torch
    deterministic, benchmark = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)  # (put back as it was after the test)
    # torch's handler of its decoding workers' deaths, which test.py and bench.py let go of when a SIGTERM ends them
    workers_watched = signal.getsignal(signal.SIGCHLD)
    yield
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = benchmark
    signal.signal(signal.SIGCHLD, workers_watched)


@pytest.fixture(autouse=True)
def no_tensorboard_writer_left_open():
    """train.py run in-process closes its TensorBoard writer however the run ends: one left open goes on
    writing from its thread, after the test, into whatever folder its relative path then names."""
    def writers():
        return {t for t in threading.enumerate() if type(t).__name__ == "_AsyncWriterThread"}
    before = writers()  # (one that a test before left open fails that test alone)
    yield
    if writers() - before:
        pytest.fail(f"{len(writers() - before)} TensorBoard writer(s) left open")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in a fresh directory, as a user would in a fresh clone (data/cache and logs_train land here)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def tiny(workdir):
    """A 3-class image folder: 8 training and 4 test images per class."""
    return make_dataset(workdir / "tiny")


@pytest.fixture
def grids_shown(monkeypatch):
    """The arguments of every picture pictures.image_grid draws (images, labels, classes, predictions,
    probabilities): what a grid shows, without reading the picture back."""
    import pictures
    shown, image_grid = [], pictures.image_grid
    monkeypatch.setattr(pictures, "image_grid", lambda *args: shown.append(args) or image_grid(*args))
    return shown


def scalars(run_dir, tag):
    """The (step, value) points of a TensorBoard tag in a run's event files."""
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def run_cli(module, argv, capsys=None):
    """Run train.py's, test.py's or bench.py's entry point in-process; returns (exit code, stdout, stderr)."""
    try:
        module.run(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr() if capsys else ("", "")
    return code, out, err


TRAIN_FAST = ["--batch-size", "4", "--num-workers", "0", "--log-every", "2"]


class StillWaiting(BaseException):
    """Not an OSError (as TimeoutError is), which the code under test may catch and carry on."""


@contextlib.contextmanager
def within(seconds):
    """Fails the test, rather than hang it, when what it wraps waits longer (on a pipe, say)."""
    def expired(*_):
        raise StillWaiting(f"still waiting after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def torchrun(nproc, *args):
    """train.py under `torchrun --standalone` as users start it; returns its stdout."""
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                           os.path.join(ROOT, "train.py"), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def zip_holding(pickled):
    """What torch.save writes, a zip, here around a malformed pickle."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bad/data.pkl", pickled)
        z.writestr("bad/version", b"3\n")
    return buf.getvalue()


def signal_at_step(monkeypatch, stop_step, *signums):
    """Ctrl-C (or the signals given, one after another, each handled before the next), as a user presses
    it, as train.py begins step `stop_step` (when it asks for that step's lr). Returns train.lr_at as it
    was, to put back."""
    import train
    lr_at = train.lr_at

    def pressed(step, *args):
        if step == stop_step:
            for signum in signums or (signal.SIGINT,):
                if not callable(signal.getsignal(signum)):  # (SIG_DFL: it would kill pytest, not fail a test)
                    pytest.fail(f"train.py left {signal.Signals(signum).name} to kill the process")
                os.kill(os.getpid(), signum)
                time.sleep(0.01)  # (Python runs the handler here: two signals not yet handled are one)
        return lr_at(step, *args)
    monkeypatch.setattr(train, "lr_at", pressed)
    return lr_at
