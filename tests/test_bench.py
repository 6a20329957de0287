import errno
import json
import os
import signal
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

import bench
import data
import train
from conftest import CLASSES, make_dataset, run_cli, within
from model import Tudui


def test_bench_measures_the_three_pipelines_and_the_scaling(tiny, capsys, monkeypatch):
    monkeypatch.setattr(bench, "WARMUP", 1)  # keep it short: tiny data, tiny timings
    monkeypatch.setattr(bench, "SCALING_BATCHES", (64, 128))
    trained = []  # the batch sizes train.py's steps are timed at (batch 128's row timed at 64 passed)
    train_step = train.train_step
    monkeypatch.setattr(train, "train_step", lambda *args: trained.append(len(args[5])) or train_step(*args))
    code, out, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--decode", "--json", "b.json",
                                     "--device", "cpu"], capsys)
    assert code == 0, err
    assert sorted(set(trained)) == [64, 128]
    results = json.load(open("b.json"))
    names = [p["pipeline"] for p in results["pipelines"]]
    assert names[0].startswith("tutorial") and names[1].startswith("project") and names[2].startswith("compute floor")
    assert all(p["epoch_s"] > 0 and p["peak_rss_mib"] > 0 for p in results["pipelines"])
    assert [b["batch"] for b in results["batches"]] == [64, 128]
    assert results["decode"]["first_run_s"] > 0 and results["decode"]["cached_s"] > 0
    assert "project / floor" in out and "tutorial / project" in out
    # When, where and how busy (bench outputs without them could not be told apart, 2026-11-27, a helper).
    m = results["machine"]
    assert m["cores"] == os.cpu_count() and m["cpu"] and m["gpu"] is None and m["date"].endswith(" UTC")
    assert out.startswith(f"measured {m['date']} on {m['cpu']} ({m['cores']} cores)")


def test_bench_piped_into_head_writes_its_json_first_and_ends_quietly(tiny, capsys, monkeypatch):
    """A BrokenPipeError traceback, the JSON lost (until 2026-11-27, found by helpers)."""
    monkeypatch.setattr(bench, "WARMUP", 1)
    monkeypatch.setattr(bench, "SCALING_BATCHES", (64,))

    def reader_gone(results):
        raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setattr(bench, "report", reader_gone)
    code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--json", "b.json"], capsys)
    assert code == 1 and "Traceback" not in err and json.load(open("b.json"))["pipelines"]


def test_bench_writing_to_a_full_disk_is_one_line(tiny, capsys, monkeypatch):
    """`python bench.py > bench.txt` on a full disk: an OSError traceback (until 2026-11-28, a helper)."""
    def disk_full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(bench, "dataset_sizes", disk_full)  # (the first thing that writes would fail so)
    code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick"], capsys)
    assert code == 1 and err == "bench.py: error: No space left on device\n", err


@pytest.mark.parametrize("odd", ["not an image", "a larger image", "one too large to open", "text Pillow refuses"])
def test_bench_on_a_folder_the_tutorials_loader_cannot_read_is_one_line(tiny, capsys, monkeypatch, odd):
    """ImageFolder + ToTensor, as the tutorial's loop has them, stopped with a traceback
    (until 2026-11-26 15:07 UTC; for an image over Pillow's limit, until 2026-11-27, a review; for a PNG whose text
    is over Pillow's limit, a ValueError, until 2026-11-28, a helper)."""
    monkeypatch.setattr(bench, "WARMUP", 1)
    for name in os.listdir(os.path.join(tiny, "train", "cross")):
        path = os.path.join(tiny, "train", "cross", name)
        if odd == "not an image":
            open(path, "wb").close()
        elif odd == "a larger image":
            Image.new("RGB", (64, 48)).save(path)
        elif odd == "one too large to open":  # 400 megapixels: a DecompressionBombError, no OSError
            Image.new("1", (20000, 20000)).save(path)
            break
        else:  # 2 MB of text, compressed (zTXt): over PngImagePlugin.MAX_TEXT_CHUNK, a ValueError, no OSError
            text = PngImagePlugin.PngInfo()
            text.add_text("Comment", "a" * (2 << 20), zip=True)
            Image.new("RGB", (32, 32)).save(path, pnginfo=text)
            break
    code, out, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2"], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("bench.py: error: the tutorial's pipeline (ImageFolder + ToTensor) cannot run")
    assert "Traceback" not in err


def test_bench_on_a_folder_holding_a_named_pipe_is_one_line_not_a_wait(tiny, capsys):
    """The tutorial's ImageFolder opens a pipe named like an image and waits for a writer, for ever
    (until 2026-11-27, found by a helper; train.py and test.py leave such a file out)."""
    os.mkfifo(os.path.join(tiny, "train", "cross", "pipe.png"))
    with within(60):
        code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2"], capsys)
    assert code == 2 and err == (f"bench.py: error: {tiny}/train/cross/pipe.png is a pipe, socket or device, not an "
                                 "image: the tutorial's pipeline (ImageFolder) would wait on it for ever; move it out "
                                 "of the folder\n")


def test_bench_on_a_missing_folder_is_one_line(workdir, capsys):
    code, _, err = run_cli(bench, ["--data-dir", "nowhere"], capsys)
    assert code == 2 and err.count("\n") == 1 and "nowhere" in err


def test_bench_refuses_more_steps_than_it_can_hold(workdir, capsys):
    """The timed batches are copied: --steps 10**9 asked for terabytes, and ran until memory ran out
    (until 2026-11-26)."""
    code, _, err = run_cli(bench, ["--steps", "2001"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--steps: must be <= 2000, got 2001" in err


def test_bench_on_a_file_or_a_diverging_run_or_an_unwritable_json_is_one_line(tiny, workdir, capsys, monkeypatch):
    code, _, err = run_cli(bench, [], capsys)  # a fresh clone: data/cifar10_jpeg not extracted yet
    assert code == 2 and err.count("\n") == 1 and "does not exist: extract CIFAR-10's JPEG copy there" in err, err
    open("afile", "w").close()
    code, _, err = run_cli(bench, ["--data-dir", "afile"], capsys)
    assert code == 2 and err.count("\n") == 1 and "afile is a file" in err
    monkeypatch.setattr(bench, "WARMUP", 1)
    monkeypatch.setattr(bench, "SCALING_BATCHES", (64,))
    quick = ["--data-dir", tiny, "--quick", "--steps", "2"]
    code, out, err = run_cli(bench, [*quick, "--json", "no/such/folder/b.json"], capsys)
    assert code == 2 and "--json" in err and "folder no/such/folder does not exist" in err and out == ""
    os.makedirs("results")
    for name in ("results", ""):  # a folder or "": refused with the flags, before any timing
        code, out, err = run_cli(bench, [*quick, "--json", name], capsys)
        assert code == 2 and "--json" in err and "must name a file" in err and out == ""
    # Said after minutes of timing (until 2026-11-26; found by a fuzzing helper):
    code, out, err = run_cli(bench, [*quick, "--json", "a" * 300 + ".json"], capsys)
    assert code == 2 and "file name too long" in err and out == ""
    monkeypatch.setattr(train, "lr_at", lambda *args: 1e30)
    code, _, err = run_cli(bench, quick, capsys)
    assert code == 3 and "diverged" in err.strip().splitlines()[-1]


def test_bench_ctrl_c_is_one_line_and_exit_130(tiny, capsys, monkeypatch):
    """It was a traceback, and the exit a signal's (until 2026-11-26 13:35 UTC)."""
    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(bench, "bench_floor", interrupted)
    code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick"], capsys)
    assert code == 130 and err.strip().splitlines()[-1] == "bench.py: interrupted"


def test_bench_stopped_by_kill_or_timeout_removes_its_temporary_cache(tiny, workdir, capsys, monkeypatch):
    """SIGTERM ended it at once, its cold cache of the dataset left in the temporary folder (177 MB for
    CIFAR-10; until 2026-11-28 22:00 UTC). Now it unwinds as Ctrl-C does: one line, exit 143."""
    os.mkdir("tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(workdir / "tmp"))
    time_load = bench.time_load

    def killed_in_the_second_load(data_dir):
        if os.listdir("tmp") and os.listdir(os.path.join("tmp", os.listdir("tmp")[0])):  # the cache is written
            if not callable(signal.getsignal(signal.SIGTERM)):  # (SIG_DFL: it would kill pytest)
                pytest.fail("bench.py left SIGTERM to kill the process")
            os.kill(os.getpid(), signal.SIGTERM)
        return time_load(data_dir)
    monkeypatch.setattr(bench, "time_load", killed_in_the_second_load)
    monkeypatch.setattr(bench, "main", lambda argv: bench.bench_decode(tiny, cold=True))  # (its last timing)
    code, _, err = run_cli(bench, [], capsys)
    assert code == 143 and err.strip().splitlines()[-1] == "bench.py: terminated"
    assert os.listdir("tmp") == []


def test_bench_turns_the_time_of_its_steps_into_an_epochs_time_for_each_pipeline(tiny, capsys, monkeypatch):
    """On a clock of its own, where the network costs a fixed time per image (training and evaluation
    apart), each pipeline's epoch is that cost times the split's images: the tutorial's time per step
    taken for per image, or the project's training time scaled by the test split, passed the test
    below, which checks the numbers against each other only (a helper's mutants, 2026-11-27)."""
    per_train_image, per_test_image = 1e-3, 1e-4
    clock = [0.0]

    def perf_counter():
        clock[0] += 1e-9  # (no window of zero seconds, which some line divides by)
        return clock[0]
    forward = Tudui.forward

    def costly(self, x):
        clock[0] += len(x) * (per_train_image if self.training else per_test_image)
        return forward(self, x)
    monkeypatch.setattr(bench.time, "perf_counter", perf_counter)
    monkeypatch.setattr(Tudui, "forward", costly)
    monkeypatch.setattr(bench, "WARMUP", 1)
    monkeypatch.setattr(bench, "SCALING_BATCHES", (64,))
    monkeypatch.setattr(bench, "QUICK_EVAL", 6)  # half the test split: its time doubled to make an epoch's
    # On the CPU: a CUDA graph replays its kernels without calling forward, which the clock counts.
    code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--json", "b.json",
                                   "--device", "cpu"], capsys)
    assert code == 0, err
    r = json.load(open("b.json"))
    assert r["eval_images"] == 6
    n_train, n_test = r["epoch_images"]["train"], r["epoch_images"]["test"]
    for p in r["pipelines"]:
        assert p["train_s"] == pytest.approx(per_train_image * n_train, rel=1e-3), p["pipeline"]
        assert p["eval_s"] == pytest.approx(per_test_image * n_test, rel=1e-3), p["pipeline"]


def test_bench_ratios_and_epoch_times_add_up(tiny, capsys, monkeypatch):
    """What bench.py prints and writes: an epoch is training plus evaluation, the floor is the
    fastest layout, and each ratio is the one its name says."""
    monkeypatch.setattr(bench, "WARMUP", 1)
    monkeypatch.setattr(bench, "SCALING_BATCHES", (64,))
    code, out, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--json", "b.json"], capsys)
    assert code == 0, err
    r = json.load(open("b.json"))
    tutorial, project, floor = r["pipelines"]
    for p in r["pipelines"]:
        assert p["epoch_s"] == pytest.approx(p["train_s"] + p["eval_s"])
    assert r["ratios"]["tutorial_over_project"] == pytest.approx(tutorial["epoch_s"] / project["epoch_s"])
    assert r["ratios"]["project_over_floor"] == pytest.approx(project["epoch_s"] / floor["epoch_s"])
    assert floor["epoch_s"] == pytest.approx(min(v["epoch_s"] for v in floor["layouts"].values()))
    for p in [*r["pipelines"], *r["batches"]]:
        assert p["train_images_per_s"] == pytest.approx(r["epoch_images"]["train"] / p["train_s"])
    for b in r["batches"]:
        assert b["epoch_s"] == pytest.approx(b["train_s"] + project["eval_s"])
    assert f"tutorial / project: {r['ratios']['tutorial_over_project']:.2f}x" in out
    assert f"project / floor:    {r['ratios']['project_over_floor']:.2f}x" in out
    for p in r["pipelines"]:  # each printed row, the numbers its JSON holds
        assert f"{p['pipeline']:<36}{p['epoch_s']:>9.2f}{p['train_s']:>9.2f}{p['eval_s']:>8.2f}" in out


@pytest.mark.parametrize("odd", ["images of 48×48", "test images of 48×48", "a hidden folder",
                                 "a class in train/ only"])
def test_bench_refuses_a_folder_the_tutorials_pipeline_cannot_run_before_any_timing(tiny, capsys, odd):
    """Images of one size but not 32×32 stopped in the tutorial's network with a traceback; a Jupyter
    folder was said to be a class with no images; train and test classes that differ were said after
    a minute of timing (until 2026-11-27, a helper's review of bench.py)."""
    if odd == "images of 48×48":
        make_dataset(tiny, size=48)
        told = f"{tiny}/train/circle/000.png is 48×48 pixels: the tutorial's pipeline has no resize"
    elif odd == "test images of 48×48":  # (a traceback after a minute's timing, until a review of the fix above)
        make_dataset(tiny, n_train=0, size=48)
        told = f"{tiny}/test/circle/000.png is 48×48 pixels: the tutorial's pipeline has no resize"
    elif odd == "a hidden folder":
        os.makedirs(os.path.join(tiny, "train", ".ipynb_checkpoints"))
        told = f"{tiny}/train/.ipynb_checkpoints is a hidden folder, which the tutorial's pipeline (ImageFolder) takes"
    else:
        os.makedirs(os.path.join(tiny, "train", "dots"))
        Image.new("RGB", (32, 32)).save(os.path.join(tiny, "train", "dots", "0.png"))
        told = "train and test class folders differ in"
    code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2"], capsys)
    assert code == 2 and err.startswith(f"bench.py: error: {told}") and err.count("\n") == 1


def test_bench_on_a_mac_times_the_cpu_unless_told_otherwise(monkeypatch):
    """Its timers wait for CUDA's queued work alone: on Apple's MPS they would time the queueing
    (train.py's auto picked it, until 2026-11-27)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert bench.pick_device("auto") == torch.device("cpu")


def test_bench_quick_skips_the_cold_decode_and_says_so_and_when_the_machine_is_busy(tiny, capsys, monkeypatch):
    monkeypatch.setattr(bench, "WARMUP", 1)
    monkeypatch.setattr(bench, "SCALING_BATCHES", (64,))
    loads = []  # the cache folder of each load the decode timing makes
    load_dataset = data.load_dataset
    monkeypatch.setattr(data, "load_dataset", lambda *args: loads.append(data.CACHE_DIR) or load_dataset(*args))
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    code, out, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--json", "b.json"], capsys)
    assert code == 0, err
    assert json.load(open("b.json"))["decode"]["first_run_s"] is None
    assert "first run, decoding into a fresh cache: skipped (--quick without --decode)" in out
    assert "note: the machine is busy (load 3.0)" in err and loads[-1] == data.CACHE_DIR
    loads.clear()
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    code, out, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--decode"], capsys)
    assert code == 0 and "busy" not in err
    cold, cached = loads[-2:]  # both from a fresh cache, the first decoding into it: not data/cache/
    assert cold == cached != data.CACHE_DIR and f"a fresh cache in {cold}" in err


def test_bench_calls_a_machine_busy_above_a_load_of_half_as_readme_says(tiny, capsys, monkeypatch):
    """A load of 0.6 got no note with the threshold at 1 (a helper's mutants, 2026-11-28). Stopped after the
    note: nothing is timed."""
    def stop(*_):
        raise data.UserError("stopped after the note")
    monkeypatch.setattr(bench, "bench_floor", stop)
    for load, busy in ((0.6, True), (0.5, False)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick"], capsys)
        assert code == 2 and ("note: the machine is busy (load 0.6)" in err) == busy, err


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="Linux restarts the peak RSS count only")
def test_bench_peak_memory_is_each_pipelines_own_in_mib():
    cpu = torch.device("cpu")
    bench.reset_peak_memory(cpu)  # (the peak of the tests before: larger, maybe, than this one's)
    before = bench.peak_memory(cpu)["peak_rss_mib"]
    block = np.ones(300 * 2**20, dtype=np.uint8)  # 300 MiB, touched
    during = bench.peak_memory(cpu)["peak_rss_mib"]
    del block
    bench.reset_peak_memory(cpu)
    after = bench.peak_memory(cpu)["peak_rss_mib"]
    assert 250 < during - before < 400 and after < during - 250


@pytest.mark.parametrize("odd", ["a hidden folder in test/", "a hidden file in train/"])
def test_bench_looks_for_hidden_folders_in_both_splits_and_only_for_folders(tiny, capsys, monkeypatch, odd):
    """A Jupyter folder in test/ alone was found by ImageFolder, after the timing of the floor, in its own
    words (a mutation check's survivor: only train/ looked at); a Finder's .DS_Store in a split is no class
    to ImageFolder and must not be refused (survivor: every hidden name taken for a folder)."""
    monkeypatch.setattr(bench, "WARMUP", 1)
    monkeypatch.setattr(bench, "SCALING_BATCHES", (64,))
    timed = []
    monkeypatch.setattr(bench, "bench_floor", lambda *a, **k: timed.append(1) or {})
    if odd == "a hidden folder in test/":
        os.makedirs(os.path.join(tiny, "test", ".ipynb_checkpoints"))
        code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--device", "cpu"], capsys)
        assert code == 2 and timed == [] and err == (
            f"bench.py: error: {tiny}/test/.ipynb_checkpoints is a hidden folder, which the tutorial's pipeline "
            "(ImageFolder) takes for a class; move it out of the folder\n")
    else:
        open(os.path.join(tiny, "train", ".DS_Store"), "w").close()
        assert bench.dataset_sizes(tiny) == (24, 12)


@pytest.mark.parametrize("first", ["unreadable", "text Pillow refuses", "64×48"])
def test_bench_checks_the_size_of_a_first_image_it_can_read_and_names_width_then_height(tiny, capsys, monkeypatch,
                                                                                        first):
    """An unreadable first image was a TypeError traceback were its size taken as it is (a mutation
    check's survivor: the None case dropped); the size said as width×height, as pixels are said. A first PNG
    whose text is over Pillow's limit, which Image.open refuses with a ValueError, was a traceback (until
    2026-11-28, a helper)."""
    monkeypatch.setattr(bench, "WARMUP", 1)
    path = os.path.join(tiny, "train", "circle", "000.png")  # the first image bench looks at
    if first != "64×48":
        if first == "unreadable":
            with open(path, "wb") as f:
                f.write(b"not a png")
        else:  # 2 MB of text, compressed (zTXt): over PngImagePlugin.MAX_TEXT_CHUNK
            text = PngImagePlugin.PngInfo()
            text.add_text("Comment", "a" * (2 << 20), zip=True)
            Image.new("RGB", (32, 32)).save(path, pnginfo=text)
        code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--device", "cpu"], capsys)
        assert code == 2 and "Traceback" not in err and \
            err.strip().splitlines()[-1].startswith("bench.py: error: the tutorial's pipeline (ImageFolder + "
                                                    "ToTensor) cannot run")
    else:
        Image.new("RGB", (64, 48)).save(path)
        code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2"], capsys)
        assert code == 2 and err.startswith(f"bench.py: error: {path} is 64×48 pixels: the tutorial's pipeline")


def test_bench_on_batches_of_another_size_than_the_first_image_checked_is_one_line(tiny, capsys, monkeypatch):
    """Images of 48×48 after a first one of 32×32, the one dataset_sizes checks: a shuffled batch without it
    reached the network, a traceback (`mat1 and mat2 shapes cannot be multiplied`; until 2026-11-28, a helper)."""
    monkeypatch.setattr(bench, "WARMUP", 1)
    monkeypatch.setattr(bench, "BATCH", 4)  # (batches of 4 of the 24 training images: the first lacks the 32×32 one)
    monkeypatch.setattr(bench, "bench_floor", lambda *args: {})
    for name in CLASSES:
        for file in sorted(os.listdir(os.path.join(tiny, "train", name))):
            if (name, file) != (CLASSES[0], "000.png"):
                Image.new("RGB", (48, 48)).save(os.path.join(tiny, "train", name, file))
    code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--device", "cpu"], capsys)
    assert code == 2 and "Traceback" not in err and err.strip().splitlines()[-1] == (
        f"bench.py: error: the tutorial's pipeline (ImageFolder + ToTensor) cannot run on {tiny}: a batch of 48×48 "
        "images, where its network takes 32×32; it needs every image readable and all of one size, as CIFAR-10's are")


def test_bench_run_on_a_mac_times_the_cpu(tiny, capsys, monkeypatch):
    """bench.pick_device was right and main() could still call train.pick_device, which picks MPS (a
    mutation check's survivor): the device main() times on is checked here."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    seen = []

    def stop(device):  # called with the device the timing runs on, before any timing
        seen.append(device)
        raise data.UserError("stopped here")
    monkeypatch.setattr(bench, "machine", stop)
    code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick"], capsys)
    assert code == 2 and "stopped here" in err and seen == [torch.device("cpu")]


def fake_pipelines(monkeypatch):
    """bench.main with each pipeline's timing replaced by one second of training and one of evaluation: what
    main() asks of them (the test images evaluated, whether the load is timed cold) goes into `asked`, and its
    report and JSON are its own."""
    asked = {}

    def timed_row(name):
        def bench_pipeline(*args):  # each pipeline's arguments end in sizes, steps, eval_n
            asked[name] = args
            *_, sizes, _, _ = args
            return bench.row(name, 1.0, 1.0, sizes, 0.0)
        return bench_pipeline
    floor = timed_row("floor")
    monkeypatch.setattr(bench, "bench_floor", lambda *args: {**floor(*args), "layouts": {
        "default": {"train_s": 1.0, "eval_s": 1.0, "epoch_s": 2.0}}})
    monkeypatch.setattr(bench, "bench_tutorial", timed_row("tutorial"))
    monkeypatch.setattr(bench, "bench_project", lambda *args: (timed_row("project")(*args), None))
    monkeypatch.setattr(bench, "bench_batches", lambda *args: [])
    monkeypatch.setattr(bench, "bench_decode", lambda data_dir, cold: asked.update(cold=cold) or
                        {"first_run_s": 1.0 if cold else None, "cached_s": 0.5})
    return asked


def test_bench_json_never_replaces_a_file_it_did_not_write(tiny, capsys, monkeypatch):
    """`--json` named by mistake after an image of the dataset or a checkpoint replaced it, exit 0 (until
    2026-11-28, a helper's probe). Its own results, from an earlier run, are replaced."""
    fake_pipelines(monkeypatch)
    image = os.path.join(tiny, "train", CLASSES[0], "000.png")
    torch.save({"model": Tudui().state_dict()}, "last.pth")
    with open("other.json", "w") as f:
        json.dump({"ratios": {}}, f)  # JSON, but not bench.py's
    with open("deep.json", "w") as f:
        f.write("[" * 100_000)  # too deep for Python's parser: a RecursionError traceback (a review, 2026-11-28)
    for path in (image, "last.pth", "other.json", "deep.json"):
        before = open(path, "rb").read()
        code, out, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--json", path], capsys)
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert f"argument --json: {path} exists and is not results bench.py wrote; name a new file" in err
        assert open(path, "rb").read() == before
    inodes = []
    for attempt in range(2):
        code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--json", "b.json"], capsys)
        assert code == 0, err
        inodes.append(os.stat("b.json").st_ino)
    assert inodes[1] != inodes[0]  # (written anew, renamed over the first)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="a device that is always full: Linux's")
def test_bench_prints_its_results_even_when_its_json_cannot_be_written(tiny, capsys, monkeypatch):
    """`--json` on a disk that fills as the timing ends: the one line, and the table never printed, the
    minutes of timing lost (until 2026-11-28, a helper)."""
    fake_pipelines(monkeypatch)
    code, out, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--json", "/dev/full"], capsys)
    assert code == 1 and err.endswith("bench.py: error: could not write /dev/full: No space left on device\n"), err
    assert "tutorial / project: 1.00x" in out


@pytest.mark.parametrize("quick", [True, False])
def test_bench_evaluates_no_more_test_images_than_there_are_and_times_the_cold_load_unless_quick(
        tiny, capsys, monkeypatch, quick):
    """--quick on a test split of fewer than 2,000 images: eval_images said 2,000, and each pipeline's
    evaluation, timed on the 12 there are, was divided by 2,000 (an epoch's evaluation 167 times too fast);
    without --quick, the cold decode was skipped and said to be skipped "(--quick without --decode)" (two of a
    helper's mutants, 2026-11-28, that every test passed)."""
    asked = fake_pipelines(monkeypatch)
    code, out, err = run_cli(bench, ["--data-dir", tiny, "--json", "b.json", "--device", "cpu",
                                     *(["--quick"] if quick else [])], capsys)
    assert code == 0, err
    r = json.load(open("b.json"))
    assert r["eval_images"] == 12 and asked["tutorial"][-1] == asked["project"][-1] == asked["floor"][-1] == 12
    assert asked["cold"] is not quick and (r["decode"]["first_run_s"] is None) is quick
    assert ("skipped (--quick without --decode)" in out) is quick


def test_bench_times_no_load_from_a_cache_it_could_not_write(tiny, capsys, monkeypatch):
    """data/cache/ that cannot be written (a full disk, a read-only folder): the second load decoded the images
    again, and its time was reported as "second run, from the cache" (until 2026-11-28, a helper)."""
    decode = bench.bench_decode
    fake_pipelines(monkeypatch)
    monkeypatch.setattr(bench, "bench_decode", decode)  # the loads timed as they are
    os.makedirs("data")
    open(data.CACHE_DIR, "w").close()  # a file where data/cache/ goes: no cache can be written
    code, out, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--json", "b.json", "--device", "cpu"], capsys)
    assert code == 0, err
    assert json.load(open("b.json"))["decode"]["cached_s"] is None
    assert "second run, from the cache:             not timed: no cache (it could not be written)" in out


def test_bench_on_images_that_do_not_vary_is_no_divergence(tiny, capsys, monkeypatch):
    """All-black images: their statistics are IDENTITY's, taken for --no-normalize's pixels, whose whitening eps
    is scaled to their variance, 0: the whitening filter was nan, and bench.py (train.py too) said `training
    diverged on this data`, exit 3, before any step could have (until 2026-11-28, a helper)."""
    project = bench.bench_project
    fake_pipelines(monkeypatch)
    monkeypatch.setattr(bench, "bench_project", project)  # train.py's code, timed as it is
    monkeypatch.setattr(bench, "WARMUP", 1)
    for folder, _, files in os.walk(tiny):
        for name in files:
            Image.new("RGB", (32, 32)).save(os.path.join(folder, name))
    code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--device", "cpu"], capsys)
    assert code == 0, err


def test_bench_report_counts_the_images_of_both_splits_it_loads(tiny, capsys, monkeypatch):
    """The load line said "loading 24 images" for a dataset of 24 training and 12 test images, both of which
    data.load_dataset loads and the time is of (a helper's mutant, 2026-11-28, that every test passed)."""
    fake_pipelines(monkeypatch)
    code, out, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--device", "cpu"], capsys)
    assert code == 0, err
    assert "loading 36 images (data.load_dataset)" in out


def test_bench_times_each_larger_batch_on_three_steps_at_least(monkeypatch):
    """--steps 2: batch 1024's row was timed on a single step, where the rows promise 3 at least (a helper's
    mutant, 2026-11-28, that every test passed)."""
    timed_steps = {}

    def project_train_seconds(loaded, device, sizes, batch_size, steps):
        timed_steps[batch_size] = steps
        return 1.0, None
    monkeypatch.setattr(bench, "project_train_seconds", project_train_seconds)
    rows = bench.bench_batches(None, torch.device("cpu"), (24, 12), 2, {"train_s": 1.0, "eval_s": 0.5})
    assert [b["batch"] for b in rows] == list(bench.SCALING_BATCHES)
    assert timed_steps == {128: 3, 256: 3, 1024: 3}
