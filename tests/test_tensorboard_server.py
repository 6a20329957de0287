"""What train.py logs, read back through the real TensorBoard server's HTTP API, as the web page reads it.

Three tiny runs are trained in-process (one plain, one with --val-split, one stopped by Ctrl-C in its first
epoch), then `python -m tensorboard.main` serves their log directory on a free loopback port and every
dashboard the first two use is queried: runs, scalars, images, graphs and hparams; the stopped one is
listed, and not as a success in HParams.
"""
import contextlib
import io
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("tensorboard")  # before train.py, whose SummaryWriter needs it

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

import train  # noqa: E402
from conftest import CLASSES, TRAIN_FAST, signal_at_step, run_cli  # noqa: E402
from model import Tudui  # noqa: E402

EPOCHS = 2
TRAIN_IMAGES = 8 * len(CLASSES)  # the `tiny` fixture: 8 training images per class
VAL_SPLIT = 6
BATCH = int(TRAIN_FAST[TRAIN_FAST.index("--batch-size") + 1])
LOG_EVERY = int(TRAIN_FAST[TRAIN_FAST.index("--log-every") + 1])
RUNS = {  # run name -> extra flags, training images
    "plain": ([], TRAIN_IMAGES),
    "val": (["--val-split", str(VAL_SPLIT)], TRAIN_IMAGES - VAL_SPLIT),
}
EPOCH_TAGS = ["train/epoch_loss", "train/accuracy", "test/loss", "test/accuracy", "perf/images_per_s",
              "perf/epoch_s"] + [f"test_per_class/{c}" for c in CLASSES]
VAL_TAGS = ["val/loss", "val/accuracy"]
STEP_TAGS = ["train/loss", "lr"]
IMAGE_TAGS = {"train/augmented_batch": [0], "test/confusion_matrix": list(range(1, EPOCHS + 1)),
              "test/predictions": list(range(1, EPOCHS + 1))}
PNG = b"\x89PNG\r\n\x1a\n"
START_TIMEOUT_S = 60
# Loopback only: never through a proxy that the environment may name.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(base, path, params=None, body=None):
    """GET (or POST a JSON `body`) base + path; returns the response's bytes."""
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with OPENER.open(request, timeout=20) as response:
            return response.read()
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{url}: HTTP {e.code}: {e.read()[:500]!r}") from None


def fetch_json(base, path, params=None, body=None):
    return json.loads(fetch(base, path, params, body))


def tail(path, n=3000):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")[-n:]


@contextlib.contextmanager
def tensorboard_server(logdir, log_path, runs):
    """The real TensorBoard on 127.0.0.1:<free port>, serving `logdir` once it lists `runs`; always stopped."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
               "--port", str(port), "--load_fast", "false",
               # Load everything once, before serving: no half-loaded run can be read.
               "--reload_task", "blocking", "--reload_interval", "0"]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if server.poll() is not None:
                    pytest.fail(f"tensorboard exited with code {server.returncode}:\n{tail(log_path)}")
                try:
                    if set(runs) <= set(fetch_json(base, "/data/runs")):
                        break
                except (OSError, ValueError):  # not listening yet (URLError is an OSError)
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"tensorboard did not list the runs {sorted(runs)} within {START_TIMEOUT_S} s:\n"
                                f"{tail(log_path)}")
                time.sleep(0.25)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


def check_scalars(tb, run, train_images, last):
    tags = fetch_json(tb, "/data/plugin/scalars/tags")[run]
    epoch_tags = EPOCH_TAGS + (VAL_TAGS if run == "val" else [])
    missing = [t for t in STEP_TAGS + epoch_tags if t not in tags]
    assert not missing, f"{run}: scalar tags missing: {missing}; has {sorted(tags)}"
    if run != "val":
        assert not [t for t in tags if t.startswith("val/")], f"{run}: val/ scalars without --val-split"

    def points(tag):
        return fetch_json(tb, "/data/plugin/scalars/scalars", {"run": run, "tag": tag})  # [[wall, step, value]]

    steps_per_epoch = math.ceil(train_images / BATCH)
    logged_steps = list(range(LOG_EVERY, EPOCHS * steps_per_epoch + 1, LOG_EVERY))
    for tag in STEP_TAGS:
        series = points(tag)
        assert [s for _, s, _ in series] == logged_steps, f"{run} {tag}: {series}"
        assert all(math.isfinite(v) and v > 0 for _, _, v in series), f"{run} {tag}: {series}"
    for tag in epoch_tags:
        series = points(tag)
        assert [s for _, s, _ in series] == list(range(1, EPOCHS + 1)), f"{run} {tag}: {series}"
        assert all(math.isfinite(v) for _, _, v in series), f"{run} {tag}: {series}"
        if tag in last:  # the last point is what the last checkpoint recorded (float32 in the event file)
            assert series[-1][2] == pytest.approx(last[tag], rel=1e-6), f"{run} {tag}: {series}"
    for tag in ("train/accuracy", "test/accuracy") + (("val/accuracy",) if run == "val" else ()):
        assert all(0 <= v <= 1 for _, _, v in points(tag))


def check_images(tb, run):
    tags = fetch_json(tb, "/data/plugin/images/tags")[run]
    for tag, steps in IMAGE_TAGS.items():
        assert tag in tags, f"{run}: image tag {tag} missing; has {sorted(tags)}"
        entries = fetch_json(tb, "/data/plugin/images/images", {"run": run, "tag": tag})
        assert [e["step"] for e in entries] == steps, f"{run} {tag}: {entries}"
        png = fetch(tb, "/data/plugin/images/individualImage?" + entries[-1]["query"])
        assert png.startswith(PNG), f"{run} {tag}: not a PNG: {png[:16]!r}"
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            assert image.width >= 32 and image.height >= 32, f"{run} {tag}: {image.size}"


def check_graph(tb, run):
    info = fetch_json(tb, "/data/plugin/graphs/info")
    assert run in info and info[run]["run_graph"], f"{run}: no graph in {info}"
    graph = fetch(tb, "/data/plugin/graphs/graph", {"run": run, "conceptual": "false"}).decode()
    convs = sum(isinstance(m, nn.Conv2d) for m in Tudui(len(CLASSES)).modules())
    assert "Tudui" in graph and "aten::_convolution" in graph and "aten::linear" in graph
    assert len(set(re.findall(r"Conv2d\[\d+\]", graph))) == convs, f"{run}: expected {convs} Conv2d layers"


def session_groups(tb):
    body = {"experimentName": "", "startIndex": 0, "sliceSize": 100, "colParams": [],
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]}
    return {g["name"]: g for g in fetch_json(tb, "/data/plugin/hparams/session_groups", body=body)["sessionGroups"]}


def check_hparams(tb, configs, lasts):
    experiment = fetch_json(tb, "/data/plugin/hparams/experiment", body={"experimentName": ""})
    names = {h["name"] for h in experiment["hparamInfos"]}
    assert set(configs["plain"]) <= names, f"hparams missing: {set(configs['plain']) - names}"
    metric_tags = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert {"test/accuracy", "test/loss"} <= metric_tags, metric_tags

    groups = session_groups(tb)
    assert set(configs) <= set(groups), f"session groups: {sorted(groups)}"
    for run, config in configs.items():
        group = groups[run]
        assert [s["name"] for s in group["sessions"]] == [run]
        assert group["sessions"][0]["status"] == "STATUS_SUCCESS"
        hp = group["hparams"]
        for key, value in config.items():  # numbers (bools too, as 0/1) as numbers, the rest as text
            assert key in hp and (hp[key] == value or hp[key] == str(value)), f"{run} {key}: {hp.get(key)!r}"
        metric_values = {m["name"]["tag"]: m for m in group["metricValues"]}
        for tag in ("test/accuracy", "test/loss"):
            assert tag in metric_values, f"{run}: the HParams tab shows no {tag}: {group['metricValues']}"
            assert metric_values[tag]["trainingStep"] == EPOCHS
            assert metric_values[tag]["value"] == pytest.approx(lasts[run][tag], rel=1e-6)
    # TensorBoard takes the HParams tab's columns from one run's summary: every run declares the
    # val metrics too (train.py, hparams_summaries), so a --val-split run's show beside one without.
    val_values = {m["name"]["tag"]: m["value"] for m in groups["val"]["metricValues"]}
    for tag in VAL_TAGS:
        assert val_values[tag] == pytest.approx(lasts["val"][tag], rel=1e-6)


def test_tensorboard_server_serves_scalars_images_graph_and_hparams(tiny, capsys, workdir, monkeypatch):
    configs, lasts = {}, {}
    for name, (extra, _) in RUNS.items():
        code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", name, *TRAIN_FAST, "--epochs", str(EPOCHS),
                                       *extra], capsys)
        assert code == 0, err
        run_dir = os.path.join("logs_train", name)
        with open(os.path.join(run_dir, "config.json")) as f:
            configs[name] = json.load(f)
        lasts[name] = torch.load(os.path.join(run_dir, "checkpoints", "last.pth"), weights_only=True)["metrics"]
    signal_at_step(monkeypatch, 2)
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "stopped", *TRAIN_FAST], capsys)
    assert code == 130, err

    with tensorboard_server(workdir / "logs_train", workdir / "tensorboard.log", [*RUNS, "stopped"]) as tb:
        assert set(fetch_json(tb, "/data/runs")) == {*RUNS, "stopped"}
        # Listed as a success until 2026-11-27 01:13 UTC (the session's end was written as the run started).
        assert session_groups(tb)["stopped"]["sessions"][0]["status"] != "STATUS_SUCCESS"
        for name, (_, train_images) in RUNS.items():
            check_scalars(tb, name, train_images, lasts[name])
            check_images(tb, name)
            check_graph(tb, name)
        check_hparams(tb, configs, lasts)
