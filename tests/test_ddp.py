"""DistributedDataParallel under torchrun, 2 CPU processes (gloo), against a single process."""
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import data
import pictures
import runs
import train
from checkpoint import IDENTITY
from conftest import ROOT, TRAIN_FAST, make_dataset, run_cli, scalars, torchrun
from model import Tudui

# Global batch 4: two images per process under torchrun, four in one process. A constant lr, so that a run
# stopped after 1 epoch and resumed to 2 follows the same schedule as a straight 2-epoch run. A small lr: at
# the default peak this linear network on 24 images amplifies float rounding (gradients summed across
# processes in another order) from 3e-8 to 2e-5 in 12 steps, which would hide a real difference.
COMMON = ["--device", "cpu", "--schedule", "constant", "--lr", "0.01", *TRAIN_FAST]


def last(run):
    return torch.load(f"logs_train/{run}/checkpoints/last.pth", weights_only=True)


def assert_same_weights(a, b):
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in a["model"])


def test_two_processes_train_like_one_and_resume_across_process_counts(tiny, capsys):
    # 27 training images: each epoch ends in a batch of 3, split 2 + 1, whose loss must be the mean over
    # the 3 (the mean of each process's own mean passed a test of 24 images, a helper's mutant, 2026-11-27).
    make_dataset(tiny, n_train=9)
    # Reference: one process, 2 epochs.
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "one", "--epochs", "2", *COMMON], capsys)
    assert code == 0, err
    # Two processes, 2 epochs: same weights, one set of checkpoints and events, all 12 test images counted.
    out = torchrun(2, *COMMON, "--data-dir", tiny, "--run-name", "two", "--epochs", "2")
    assert out.count("epoch 2/2") == 1  # only rank 0 prints
    assert sorted(os.listdir("logs_train/two/checkpoints")) == ["epoch_001.pth", "epoch_002.pth", "last.pth"]
    assert len([f for f in os.listdir("logs_train/two") if f.startswith("events.out")]) == 1
    assert_same_weights(last("one"), last("two"))
    # TensorBoard's confusion matrix counts each test image once, not once per process (recomputed in one
    # process from the checkpoint, the count alone was 12 whatever the run did):
    confusion = train_confusion(last("two"))
    assert sum(map(sum, confusion)) == 12
    assert np.array_equal(logged_confusion("two"), pictures.confusion_image(torch.tensor(confusion),
                                                                            last("two")["classes"]))
    assert last("two")["metrics"]["test/accuracy"] == last("one")["metrics"]["test/accuracy"]
    for key in ("test/loss", "train/epoch_loss"):  # summed over both processes' images, not rank 0's alone
        assert last("two")["metrics"][key] == pytest.approx(last("one")["metrics"][key], rel=1e-5), key
    # train/loss too (rank 0's share until 2026-11-28: a divergence that one process alone saw at a point
    # stopped it alone, and the other waited in its next all-reduce; a helper's review)
    one, two = (scalars(f"logs_train/{run}", "train/loss") for run in ("one", "two"))
    assert [s for s, _ in two] == [s for s, _ in one] and len(one) > 1
    assert [v for _, v in two] == pytest.approx([v for _, v in one], rel=1e-5)
    # 2 processes for 1 epoch, then 1 process to finish; and the reverse.
    torchrun(2, *COMMON, "--data-dir", tiny, "--run-name", "two_then_one", "--epochs", "1")
    code, _, err = run_cli(train, ["--resume", "logs_train/two_then_one", "--epochs", "2"], capsys)
    assert code == 0, err
    assert_same_weights(last("one"), last("two_then_one"))
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "one_then_two", "--epochs", "1", *COMMON],
                           capsys)
    assert code == 0, err
    torchrun(2, *COMMON, "--resume", "logs_train/one_then_two", "--epochs", "2")
    assert_same_weights(last("one"), last("one_then_two"))


def logged_confusion(run):
    """The last confusion matrix picture in the run's TensorBoard events, as pixels."""
    acc = EventAccumulator(f"logs_train/{run}", size_guidance={"images": 0})
    acc.Reload()
    png = acc.Images("test/confusion_matrix")[-1].encoded_image_string
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def train_confusion(ckpt):
    """The test split's confusion matrix, recomputed from the checkpoint by test.py's path."""
    from checkpoint import load_model
    from data import load_dataset
    _, test_split, classes = load_dataset(ckpt["config"]["data_dir"])
    model = load_model({**ckpt, "path": "last.pth"}).to(memory_format=torch.channels_last)
    return train.evaluate(model, test_split, ckpt["normalize"], torch.device("cpu"), len(classes))["confusion"].tolist()


def test_an_uneven_global_batch_is_refused(tiny, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "localhost")
    monkeypatch.setenv("MASTER_PORT", "29500")
    code, _, err = run_cli(train, ["--data-dir", tiny, "--device", "cpu", "--batch-size", "5"], capsys)
    assert code == 2 and "split evenly" in err


def test_the_command_to_continue_is_launched_as_the_run_was_and_pastes_into_a_shell(monkeypatch, tmp_path):
    # From elsewhere, train.py by its whole path ("python train.py" failed there until 2026-11-27, a helper).
    monkeypatch.chdir(tmp_path)
    assert runs.resume_command("logs_train/r", 1) == f"python {os.path.join(ROOT, 'train.py')} --resume logs_train/r"
    monkeypatch.chdir(ROOT)
    assert runs.resume_command("logs_train/my run", 1) == "python train.py --resume 'logs_train/my run'"
    assert runs.resume_command("-x", 1) == "python train.py --resume ./-x"  # not taken for a flag
    assert str(runs.already_holds_a_run("logs_train/my run")).endswith("--resume 'logs_train/my run' or another "
                                                                        "--run-name")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # two nodes of eight: no single command starts both
    assert runs.resume_command("logs_train/r", 16) == \
        "your torchrun command on each node, with train.py --resume logs_train/r"


SIGNAL_IN_RANK_1 = """
import os, signal, sys
sys.path.insert(0, {root!r})
import train
lr_at = train.lr_at
def pressed(step, *args):  # Ctrl-C (or SIGTERM) reaching process 1 alone, as it begins step {stop}
    if step == {stop} and os.environ["RANK"] == "1":
        os.kill(os.getpid(), signal.{signal})
    return lr_at(step, *args)
train.lr_at = pressed
train.run(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def straight_two_epochs(tmp_path_factory):
    """The uninterrupted run the three cases below are compared with: the same data (make_dataset's pictures),
    flags and epochs in each, so trained once, in-process, as each case trained it until 2026-11-28."""
    import torch.backends.cudnn
    folder, here = tmp_path_factory.mktemp("straight"), os.getcwd()
    deterministic, benchmark = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    os.chdir(folder)
    try:
        tiny = make_dataset(folder / "tiny")
        code, _, _ = run_cli(train, ["--data-dir", tiny, "--run-name", "straight", "--epochs", "2", *COMMON])
        assert code == 0
        return last("straight")
    finally:
        os.chdir(here)
        torch.use_deterministic_algorithms(deterministic)
        torch.backends.cudnn.benchmark = benchmark


@pytest.mark.parametrize("stop, sent, said", [(2, "SIGINT", "interrupted at step 4;"),
                                              (4, "SIGINT", "interrupted after epoch 1;"),
                                              (2, "SIGTERM", "terminated at step 4;")])
def test_ctrl_c_or_sigterm_reaching_one_process_stops_all_at_the_same_step_and_resumes(tiny, straight_two_epochs,
                                                                                       stop, sent, said):
    """Ctrl-C reaches each process at its own moment (here: only rank 1). Each stopped on its own,
    and the others failed in the next all-reduce, with no interrupt.pth (until 2026-11-26 14:00 UTC).
    Inside an epoch they stop at the next step where they agree (every --log-every steps); in its
    last --log-every steps, after it. (Pressed at a moment of the clock, which place was taken was
    chance, until 2026-11-27: a helper's review.) A SIGTERM that reached rank 1 alone was said by rank 0
    as "interrupted", exit 130 (until 2026-11-27, a helper's audit)."""
    with open("signalled.py", "w") as f:
        f.write(SIGNAL_IN_RANK_1.format(root=ROOT, stop=stop, signal=sent))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "signalled.py", *COMMON, "--data-dir", tiny, "--run-name", "stop", "--epochs", "2"],
                          capture_output=True, text=True, timeout=300)
    train_py = os.path.join(ROOT, "train.py")  # (the test runs in a folder of its own)
    assert done.stderr.count(f"train.py: {said} continue with: torchrun --nproc_per_node=2 {train_py} --resume "
                             "logs_train/stop\n") == 1, done.stderr[-3000:]  # rank 0's line alone
    assert "Connection reset" not in done.stderr and "mismatch" not in done.stderr, done.stderr[-3000:]
    assert os.path.exists("logs_train/stop/checkpoints/interrupt.pth") == (stop == 2)
    torchrun(2, "--resume", "logs_train/stop", "--epochs", "2")
    assert_same_weights(straight_two_epochs, last("stop"))  # the resume went on from where the processes stopped
    assert last("stop")["step"] == 12


def test_a_refused_run_folder_stops_every_process_with_one_line(tiny):
    """Process 0 alone was refused; process 1 trained on and failed in its next all-reduce, with a
    traceback of its own (until 2026-11-26 15:30 UTC)."""
    live = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *COMMON, "--data-dir", tiny,
                             "--run-name", "busy", "--epochs", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        while not os.path.exists("logs_train/busy/checkpoints/epoch_001.pth"):
            assert live.poll() is None and time.time() < deadline, live.communicate()
            time.sleep(0.05)
        # Stopped, it holds its lock (lockf's, let go only as the process ends) without the CPU time that
        # torchrun's three interpreters need to start (a 2-core machine): the same refusal, sooner.
        live.send_signal(signal.SIGSTOP)
        err = torchrun_fails("--resume", "logs_train/busy", "--epochs", "200000")
    finally:
        live.kill()
        live.wait()
    assert err.count("train.py: error: another train.py is training in") == 1
    assert "[rank1]" not in err and "Connection closed" not in err, err[-3000:]


def torchrun_fails(*args, script=os.path.join(ROOT, "train.py")):
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           script, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    # torchrun's report names process 0, which printed why, as the root cause (until 2026-11-26 it could
    # name process 1, when it exited a second before process 0). Process 1 exits with 0: the report lists it
    # only when it was still exiting as process 0 ended, and torchrun stopped it (SIGTERM, exit code -15).
    report = done.stderr[done.stderr.rfind("Failures:"):]
    others, root = report.split("Root Cause")
    assert re.search(r"rank\s*: 0 ", root) and not re.search(r"rank\s*: 1 ", root), done.stderr[-3000:]
    assert set(re.findall(r"exitcode\s*: (-?\d+)", others)) <= {"-15"}, done.stderr[-3000:]
    return done.stderr


def test_an_error_only_process_0_meets_is_one_line_from_it_alone(tiny, capsys):
    """A data folder that is not there (process 0 loads first, the others wait for its cache), a
    checkpoint that cannot be written (process 0 writes), a run folder that is taken: process 1
    failed in its next collective call, with a traceback of its own (until 2026-11-26)."""
    err = torchrun_fails(*COMMON, "--data-dir", "no_such_folder", "--run-name", "missing")
    assert err.count("train.py: error: data directory no_such_folder does not exist") == 1
    assert "[rank1]" not in err and "Connection" not in err, err[-3000:]
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "w", "--epochs", "1", *COMMON], capsys)
    assert code == 0, err
    os.makedirs("logs_train/w/checkpoints/epoch_002.pth")  # where epoch 2's checkpoint would be written
    err = torchrun_fails("--resume", "logs_train/w", "--epochs", "2")
    assert err.count("train.py: error: could not write logs_train/w/checkpoints/epoch_002.pth") == 1, err[-3000:]
    assert "[rank1]" not in err and "Connection" not in err, err[-3000:]
    # A --run-name that holds a run already: each process said so, now and then in one line glued to the
    # other's (until 2026-11-27, found by a helper).
    err = torchrun_fails(*COMMON, "--data-dir", tiny, "--run-name", "w")
    assert err.count("train.py: error: logs_train/w already holds a run") == 1, err[-3000:]
    # A resume on changed data, refused after every process has loaded it (each said why until 2026-11-27 00:43 UTC).
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "v", "--epochs", "1", "--val-split", "3",
                                   *COMMON], capsys)
    assert code == 0, err
    shutil.copy(f"{tiny}/train/circle/000.png", f"{tiny}/train/circle/added.png")
    err = torchrun_fails("--resume", "logs_train/v", "--epochs", "2")
    assert err.count("train.py: error: the training split has changed") == 1, err[-3000:]
    assert "[rank1]" not in err and "Connection" not in err, err[-3000:]
    # Divergence: every process said it, and exited 3 (until 2026-11-28, a helper's review).
    err = torchrun_fails(*COMMON, "--data-dir", tiny, "--run-name", "diverged", "--lr", "100")
    assert err.count("train.py: error: training diverged: loss became") == 1, err[-3000:]
    # A --val-split that holds out a whole class: said by every process (until a review, 2026-11-27).
    for name in os.listdir(f"{tiny}/train/circle")[1:]:
        os.remove(f"{tiny}/train/circle/{name}")
    err = torchrun_fails(*COMMON, "--data-dir", tiny, "--run-name", "unseen", "--val-split", "16")  # of 17
    assert err.count("train.py: error: --val-split 16 holds out every training image of") == 1, err[-3000:]


ADDED_IN_RANK_1 = """
import os, shutil, sys
sys.path.insert(0, {root!r})
import train
load_dataset = train.load_dataset
def added_first(data_dir, *args, **kwargs):  # an image added as process 1 comes to list the folder
    if os.environ["RANK"] == "1":
        shutil.copy(os.path.join(data_dir, "train", "circle", "000.png"),
                    os.path.join(data_dir, "train", "circle", "added.png"))
    return load_dataset(data_dir, *args, **kwargs)
train.load_dataset = added_first
train.run(sys.argv[1:])
"""


def test_a_folder_changed_as_the_processes_read_it_in_turn_is_one_line_from_process_0(tiny):
    """Process 0 reads the data first, then the others list the folder: an image added in between
    had them train on other splits, and the run ended in gloo's "collective mismatch", with a
    SIGABRT and tracebacks (until 2026-11-28)."""
    with open("changed.py", "w") as f:
        f.write(ADDED_IN_RANK_1.format(root=ROOT))
    err = torchrun_fails(*COMMON, "--data-dir", tiny, "--run-name", "changed", script="changed.py")
    assert err.count(f"train.py: error: the training images in {tiny} changed while the processes read them, one "
                     "after another (training images found: 24 by process 0, 25 by process 1); start the run "
                     "again\n") == 1, err[-3000:]
    assert "[rank1]" not in err and "mismatch" not in err, err[-3000:]
    assert not os.path.exists("logs_train/changed/checkpoints")


def test_under_torchrun_each_process_evaluates_its_own_share_of_the_split(tiny):
    """evaluate() with world > 1 must score each image in exactly one process (their confusion
    matrices are summed): the whole split in every process counted it `world` times in the
    confusion matrix that TensorBoard shows, and took `world` times as long."""
    _, test_split, classes = data.load_dataset(tiny)
    torch.manual_seed(0)
    model = Tudui(len(classes))
    whole = train.evaluate(model, test_split, IDENTITY, torch.device("cpu"), len(classes))
    parts = [train.evaluate(model, test_split, IDENTITY, torch.device("cpu"), len(classes), rank=r, world=2)
             for r in (0, 1)]  # without a process group, all_sum leaves each process's own sums
    assert [p["confusion"].sum().item() for p in parts] == [6, 6]
    assert torch.equal(parts[0]["confusion"] + parts[1]["confusion"], whole["confusion"])


def test_a_file_renamed_as_the_processes_read_the_folder_in_turn_is_refused_though_the_count_is_the_same(tiny):
    """The processes' counts agree, but not their files: the one line says so, rather than list equal counts."""
    def found():
        train_split, _, _ = data.load_dataset(tiny)
        return runs.training_data_id(train_split, os.path.join(tiny, "train"))
    before = found()
    runs.check_every_process_found_the_same([before, found()], tiny)  # nothing changed: no error
    os.rename(os.path.join(tiny, "train", "cross", "003.png"), os.path.join(tiny, "train", "cross", "renamed.png"))
    with pytest.raises(data.UserError) as refused:
        runs.check_every_process_found_the_same([before, found()], tiny)
    assert str(refused.value) == (f"the training images in {tiny} changed while the processes read them, one after "
                                  "another (24 training images in each, other files); start the run again")


AS_TRAIN_PY = """
import atexit, os, runpy, sys
sys.path.insert(0, os.path.dirname({train!r}))
atexit.register(lambda: print("python's shutdown ran", flush=True))
sys.argv[0] = {train!r}
runpy.run_path({train!r}, run_name="__main__")
"""


def test_torchruns_processes_end_with_their_exit_code_without_pythons_shutdown(tiny, tmp_path):
    """Python's shutdown could abort a finished run's process, reported as failed by torchrun ("terminate
    called without an active exception"): DDP keeps gloo's threads past destroy_process_group, and one that
    let go of a tensor as Python shut down ended the process (docs/reliability.md, 2026-11-28). Under
    torchrun the process ends as run() does, its output written, its exit code kept."""
    script = tmp_path / "as_train.py"
    script.write_text(AS_TRAIN_PY.format(train=os.path.join(ROOT, "train.py")))
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", str(script)]
    done = subprocess.run([*launch, *COMMON, "--data-dir", tiny, "--epochs", "1"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "done: test accuracy" in done.stdout, done.stderr[-3000:]
    assert "python's shutdown ran" not in done.stdout
    done = subprocess.run([*launch, *COMMON, "--data-dir", "missing"], capture_output=True, text=True, timeout=300)
    assert "train.py: error: data directory missing does not exist." in done.stderr, done.stderr[-3000:]
    assert re.search(r"exitcode\s*: 2 ", done.stderr) and "python's shutdown ran" not in done.stdout


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full (Linux's) here")
def test_output_to_a_full_disk_under_torchrun_is_process_0s_one_line(tiny):
    """Process 0's OSError (its line into a file on a full disk) reached none of the others: process 1 failed in
    its next all-reduce, "[rank1]: Traceback … gloo … Connection closed by peer" (until 2026-11-28, a helper)."""
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                               os.path.join(ROOT, "train.py"), *COMMON, "--data-dir", tiny, "--epochs", "1"],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=300, env=buffered)
    assert "train.py: error: No space left on device; any checkpoints saved are kept" in done.stderr, done.stderr
    assert "[rank1]" not in done.stderr and "RuntimeError" not in done.stderr, done.stderr[-3000:]
