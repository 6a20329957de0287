"""On a CUDA GPU (all skipped without one): training there with AMP and CUDA graphs, the
checkpoint used on the CPU, graphed and plain steps alike, the two data paths alike, a CPU
run resumed on the GPU, torchrun with NCCL, and bench.py's decoding processes."""
import gc
import json
import os

import pytest
import torch

import checkpoint
import test as predict
import train
from conftest import TRAIN_FAST, run_cli, torchrun

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def train_on_cuda(tiny, capsys, name, *extra):
    code, out, err = run_cli(train, ["--data-dir", tiny, "--run-name", name, "--device", "cuda", *TRAIN_FAST,
                                     "--epochs", "3", *extra], capsys)
    assert code == 0, err
    return os.path.join("logs_train", name)


def last_weights(run_dir):
    return torch.load(os.path.join(run_dir, "checkpoints", "last.pth"), map_location="cpu", weights_only=True)["model"]


@pytest.fixture
def graphs_made(monkeypatch):
    """Every GraphedStep that training makes, to check that it captured and replayed."""
    made = []

    class Recorded(train.GraphedStep):
        def __init__(self, step):
            super().__init__(step)
            made.append(self)
    monkeypatch.setattr(train, "GraphedStep", Recorded)
    return made


def test_amp_and_cuda_graphs_learn_and_the_checkpoint_scores_the_same_on_the_cpu(tiny, capsys, graphs_made,
                                                                                   monkeypatch):
    autocast = []  # whether each forward pass in training mode ran under autocast (a graph's replays call none;
    # TensorBoard's trace of the network, outside any step, is one of them)
    forward = train.Tudui.forward
    monkeypatch.setattr(train.Tudui, "forward", lambda self, x: autocast.append(torch.is_autocast_enabled("cuda"))
                        or forward(self, x) if self.training else forward(self, x))
    run_dir = train_on_cuda(tiny, capsys, "gpu", "--amp")
    assert any(autocast)  # (an accuracy of 0.9 and the CPU's agreement hold without it, too)
    assert graphs_made and graphs_made[0].graph is not None  # on by default on CUDA
    # No map_location: what a machine without a GPU gets (momentum buffers and the graphs' lr were GPU
    # tensors there until 2026-11-26 22:47 UTC).
    ckpt = torch.load(os.path.join(run_dir, "checkpoints", "last.pth"), weights_only=True)
    saved = [*ckpt["model"].values(), *(v for entry in ckpt["optimizer"]["state"].values() for v in entry.values()),
             *(v for group in ckpt["optimizer"]["param_groups"] for v in group.values())]
    assert not any(isinstance(v, torch.Tensor) and v.device.type != "cpu" for v in saved)
    assert all(k.startswith("model.") for k in ckpt["model"])
    assert ckpt["metrics"]["test/accuracy"] >= 0.9
    code, out, err = run_cli(predict, [run_dir, "--device", "cpu", "--json"], capsys)
    assert code == 0, err
    # bf16 on the GPU against float32 on the CPU: the same predictions up to an image or two of 12.
    assert json.loads(out)["accuracy"] == pytest.approx(ckpt["metrics"]["test/accuracy"], abs=0.17)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_graphed_steps_train_like_plain_steps(tiny, capsys, graphs_made, optimizer):
    # Deterministic kernels, so that both runs use the same ones; 3 epochs of 6 steps each,
    # 3 of them warm-up, then captured and replayed, the batch order and augmentation the same.
    common = ["--deterministic", "--optimizer", optimizer, "--lr", "0.01"]
    plain = last_weights(train_on_cuda(tiny, capsys, "plain", "--no-cuda-graphs", *common))
    assert not graphs_made
    graphed = last_weights(train_on_cuda(tiny, capsys, "graphed", "--cuda-graphs", *common))
    assert graphs_made[0].graph is not None
    for k in plain:
        torch.testing.assert_close(graphed[k], plain[k], atol=1e-5, rtol=0, msg=k)


def test_memory_and_streaming_paths_train_alike_on_the_gpu(tiny, capsys):
    # With decoding workers, as users run it: they read the labels, which must stay on the CPU.
    finals = {path: last_weights(train_on_cuda(tiny, capsys, path, "--data-path", path, "--deterministic",
                                               "--num-workers", "2"))
              for path in ("memory", "stream")}
    for k in finals["memory"]:
        torch.testing.assert_close(finals["stream"][k], finals["memory"][k], atol=1e-5, rtol=0, msg=k)


def test_optimizer_state_saved_on_the_cpu_keeps_the_graphs_learning_rate_tensor():
    model = torch.nn.Linear(3, 2)
    cpu_optimizer = train.make_optimizer(model, train.DEFAULTS, torch.device("cpu"))
    model.cuda()
    optimizer = train.make_optimizer(model, train.DEFAULTS, torch.device("cuda"), graphs=True)
    checkpoint.load_optimizer_state(optimizer, cpu_optimizer.state_dict())
    # A float here would be captured as a constant: the schedule would stop at the captured value.
    lr = optimizer.param_groups[0]["lr"]
    assert isinstance(lr, torch.Tensor) and lr.is_cuda


def test_a_cpu_run_resumed_on_the_gpu_goes_on_from_its_momentum(tiny, capsys, monkeypatch):
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "moved", "--device", "cpu", *TRAIN_FAST,
                                   "--epochs", "1"], capsys)
    assert code == 0, err
    cpu_state = torch.load("logs_train/moved/checkpoints/last.pth", weights_only=True)["optimizer"]["state"]
    loaded = []  # the momentum of each parameter as the resume starts training
    load_optimizer_state = train.load_optimizer_state

    def load(optimizer, saved):
        load_optimizer_state(optimizer, saved)
        loaded.extend(optimizer.state[p]["momentum_buffer"].clone() for group in optimizer.param_groups
                      for p in group["params"])
    monkeypatch.setattr(train, "load_optimizer_state", load)
    code, out, err = run_cli(train, ["--resume", "logs_train/moved", "--device", "cuda", "--epochs", "2"], capsys)
    assert code == 0, err
    assert len(loaded) == len(cpu_state) == 10 and all(b.is_cuda for b in loaded)
    for i, buffer in enumerate(loaded):
        assert torch.equal(buffer.cpu(), cpu_state[i]["momentum_buffer"]), i
    ckpt = torch.load("logs_train/moved/checkpoints/last.pth", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["step"] == 12 and "epoch 2/2" in out


def test_torchrun_on_one_gpu_with_nccl(tiny):
    """An NCCL process group starts and trains (one process: no DistributedDataParallel wrapper)."""
    out = torchrun(1, "--data-dir", tiny, "--run-name", "ddp", *TRAIN_FAST, "--epochs", "2")
    assert "device cuda" in out
    ckpt = torch.load("logs_train/ddp/checkpoints/last.pth", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2


def test_bench_on_the_gpu_leaves_its_decoding_processes_no_cuda_graph(tiny, capfd, monkeypatch):
    """bench.py's cold decode forked its decoding processes with the CUDA graphs of the timings
    left as garbage; collected there, each graph printed "CUDA warning: initialization error"
    (an H200, 2026-11-27). Each process here collects its garbage at every image, as one that
    decodes 25,000 images comes to on its own."""
    import bench
    import data
    monkeypatch.setattr(bench, "WARMUP", 1)
    monkeypatch.setattr(bench, "SCALING_BATCHES", (64,))
    getitem = data.ImageFiles.__getitem__

    def collecting(self, i):
        gc.collect()
        return getitem(self, i)
    monkeypatch.setattr(data.ImageFiles, "__getitem__", collecting)
    gc.collect()  # the garbage of earlier tests in this process
    code, _, err = run_cli(bench, ["--data-dir", tiny, "--quick", "--steps", "2", "--decode", "--device", "cuda"],
                           capfd)
    assert code == 0, err
    assert "CUDA warning" not in err, err
