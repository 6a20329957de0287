"""On a CUDA GPU (all skipped without one): training there with AMP and CUDA graphs, the
checkpoint used on the CPU, the two data paths and torchrun with NCCL."""
import json
import os

import pytest
import torch

import test as predict
import train
from conftest import TRAIN_FAST, run_cli, torchrun

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def train_on_cuda(tiny, capsys, name, *extra):
    code, out, err = run_cli(train, ["--data-dir", tiny, "--run-name", name, "--device", "cuda", *TRAIN_FAST,
                                     "--epochs", "3", *extra], capsys)
    assert code == 0, err
    return os.path.join("logs_train", name)


def test_amp_and_cuda_graphs_learn_and_the_checkpoint_scores_the_same_on_the_cpu(tiny, capsys):
    run_dir = train_on_cuda(tiny, capsys, "gpu", "--amp", "--compile")
    ckpt = torch.load(os.path.join(run_dir, "checkpoints", "last.pth"), map_location="cpu", weights_only=True)
    # Unwrapped weights, stored as CPU-loadable tensors without the compiled module's prefix.
    assert all(k.startswith("model.") for k in ckpt["model"])
    assert ckpt["metrics"]["test/accuracy"] >= 0.9
    code, out, err = run_cli(predict, [run_dir, "--device", "cpu", "--json"], capsys)
    assert code == 0, err
    # bf16 on the GPU against float32 on the CPU: the same predictions up to an image or two of 12.
    assert json.loads(out)["accuracy"] == pytest.approx(ckpt["metrics"]["test/accuracy"], abs=0.17)


def test_memory_and_streaming_paths_train_alike_on_the_gpu(tiny, capsys):
    finals = {}
    for path in ("memory", "stream"):
        run_dir = train_on_cuda(tiny, capsys, path, "--data-path", path, "--no-compile")
        finals[path] = torch.load(os.path.join(run_dir, "checkpoints", "last.pth"), map_location="cpu",
                                  weights_only=True)["model"]
    for k in finals["memory"]:
        # cuDNN may pick other kernels from run to run: equal up to float rounding, not bit for bit.
        assert torch.allclose(finals["memory"][k], finals["stream"][k], atol=1e-4), k


def test_torchrun_on_one_gpu_with_nccl(tiny):
    out = torchrun(1, "--data-dir", tiny, "--run-name", "ddp", *TRAIN_FAST, "--epochs", "2")
    assert "device cuda" in out
    ckpt = torch.load("logs_train/ddp/checkpoints/last.pth", map_location="cpu", weights_only=True)
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in ckpt["model"])
