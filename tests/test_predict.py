"""test.py: images of every kind, the tutorial's own checkpoints, foreign and malicious files."""
import argparse
import glob
import io
import json
import math
import os
import pickle
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import zipfile
import zlib

import numpy as np
import pytest
import torch
from torch import nn
from PIL import Image

import bench
import cli
import data
import interrupt
import pictures
import test as predict
import train
from checkpoint import CIFAR10_CLASSES
from conftest import CLASSES, FIXTURES, ROOT, TRAIN_FAST, make_dataset, run_cli, within, zip_holding
from model import Tudui

needs_fixtures = pytest.mark.skipif(not os.path.isdir(FIXTURES), reason="../shared/fixtures not present")


@pytest.fixture
def checkpoint(workdir):
    """A freshly initialised 10-class checkpoint in this project's format."""
    torch.manual_seed(0)
    path = workdir / "net.pth"
    torch.save({"model": Tudui().state_dict(), "classes": [f"c{i}" for i in range(10)],
                "normalize": {"mean": [0.5] * 3, "std": [0.2] * 3}, "config": {}}, path)
    return str(path)


def png_claiming_size(width, height):
    """A valid PNG whose header claims width x height (a decompression bomb needs no pixels to test)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    raw = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(raw[24:29])
    raw[16:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(raw)


def write_odd_images(folder):
    """Every kind of file a user may pass, and whether test.py should classify it."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8))
    files = {}

    def save(name, img, ok, **kw):
        img.save(folder / name, **kw)
        files[name] = ok
    save("rgb.png", rgb, True)
    save("rgba.png", rgb.convert("RGBA"), True)
    save("gray.png", rgb.convert("L"), True)
    save("palette.png", rgb.convert("P"), True)
    save("palette_transparent.png", rgb.convert("P"), True, transparency=0)
    save("sixteen_bit.png", Image.fromarray((rng.integers(0, 65535, (40, 40))).astype(np.uint16)), True)
    save("cmyk.jpg", rgb.convert("CMYK"), True)
    save("tiny.bmp", rgb.resize((3, 2)), True)
    frames = [rgb.convert("P"), Image.new("P", (70, 50), 3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    files["animated.gif"] = True
    jpeg = io.BytesIO()
    rgb.save(jpeg, "JPEG")
    (folder / "truncated.jpg").write_bytes(jpeg.getvalue()[:300])
    files["truncated.jpg"] = False
    png = io.BytesIO()
    rgb.save(png, "PNG")
    (folder / "truncated.png").write_bytes(png.getvalue()[:200])
    files["truncated.png"] = False
    (folder / "empty.png").write_bytes(b"")
    files["empty.png"] = False
    (folder / "notes.jpg").write_text("this is not an image")
    files["notes.jpg"] = False
    (folder / "huge.png").write_bytes(png_claiming_size(20000, 20000))
    files["huge.png"] = False
    # 90 megapixels, not a JPEG (which is decoded at a reduced scale): gigabytes to decode whole.
    (folder / "large.png").write_bytes(png_claiming_size(10000, 9000))
    files["large.png"] = False
    return files


def test_every_kind_of_image_gets_a_prediction_or_one_error_line(checkpoint, workdir, capsys):
    files = write_odd_images(workdir / "odd")
    paths = [str(workdir / "odd" / name) for name in files] + ["missing.png", str(workdir / "no_dir")]
    os.mkdir(workdir / "no_dir")
    code, out, err = run_cli(predict, [checkpoint, *paths], capsys)
    assert code == 1 and "Traceback" not in err
    for name, ok in files.items():
        shown_ok = any(line.startswith(str(workdir / "odd" / name) + ":") for line in out.splitlines())
        shown_bad = any(name in line for line in err.splitlines())
        assert (shown_ok, shown_bad) == (ok, not ok), name
    assert "missing.png: no such file" in err and "no_dir: a folder with no images directly in it" in err
    assert "huge.png: image too large to decode safely" in err and "large.png: image too large" in err


def test_an_iphone_photo_in_heic_is_named_as_such(checkpoint, workdir, capsys):
    """Pillow cannot read HEIC: "not an image file" (until 2026-11-27, a helper) left an iPhone's user
    wondering."""
    (workdir / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")
    code, _, err = run_cli(predict, [checkpoint, str(workdir / "IMG_0001.HEIC")], capsys)
    assert code == 1 and err.endswith("IMG_0001.HEIC: a HEIC photo, which Pillow cannot read: convert it to JPEG\n")


def test_a_postscript_file_named_as_an_image_is_not_run(checkpoint, workdir, capsys, monkeypatch):
    """Pillow draws EPS by running Ghostscript on the file, whatever its name: a dog.png holding `{} loop` hung
    test.py where Ghostscript is installed, and one Ghostscript failed on was a traceback (CalledProcessError)
    (until 2026-11-28, a helper). A stand-in for Ghostscript records whether it ran."""
    from PIL import EpsImagePlugin
    marker = workdir / "ghostscript_ran"
    fake = workdir / "gs"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", str(fake))
    (workdir / "dog.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n{} loop\n")
    code, _, err = run_cli(predict, [checkpoint, str(workdir / "dog.png")], capsys)
    assert code == 1 and err.endswith("dog.png: unreadable image (PostScript, which is a program: not run)\n"), err
    assert not marker.exists()


def test_a_jpeg_of_thousands_of_scans_is_refused_before_it_is_decoded(checkpoint, workdir, capsys):
    """Each scan of a progressive JPEG is a pass over the whole picture, and one over a blank picture is a few
    bytes: 1,000 repeated in an 8000x8000 JPEG of 350 KB took 43 s to decode, 20,000 (2 MB) would take a
    quarter of an hour (until 2026-11-28, a helper). The repeats, here over a small picture, are counted."""
    jpeg = io.BytesIO()
    Image.new("L", (64, 64), 128).save(jpeg, "JPEG", progressive=True)
    data = jpeg.getvalue()
    last = data.rindex(b"\xff\xda")  # the last scan, then the end of image marker (FF D9)
    (workdir / "scans.jpg").write_bytes(data[:-2] + data[last:-2] * 100 + b"\xff\xd9")  # 6 scans, then 100 more
    (workdir / "progressive.jpg").write_bytes(data)
    (workdir / "hundred.jpg").write_bytes(data[:-2] + data[last:-2] * 94 + b"\xff\xd9")  # 100: not over the limit
    # A camera's MPO (two pictures in one .jpg; Pillow's format "MPO", not "JPEG"): the first picture's scans
    # repeated as well (untested until a helper's mutation run, 2026-11-28).
    mpo = io.BytesIO()
    Image.new("L", (64, 64), 128).save(mpo, "MPO", save_all=True, append_images=[Image.new("L", (64, 64))],
                                       progressive=True)
    mpo = mpo.getvalue()
    end = mpo.index(b"\xff\xd9")  # the first picture's end
    (workdir / "camera.jpg").write_bytes(mpo[:end] + mpo[mpo.rindex(b"\xff\xda", 0, end):end] * 100 + mpo[end:])
    # A motion photo: a phone's video after the picture's end, whose bytes hold FF DA anywhere (as may a comment's or
    # an EXIF thumbnail's): no scans of the picture, which libjpeg never reads as such (refused, counted as scans,
    # until 2026-11-28: 8 MB of a video held 116, a helper's review).
    motion = io.BytesIO()
    Image.new("L", (64, 64), 128).save(motion, "JPEG", progressive=True, comment=b"\xff\xda" * 200)
    (workdir / "motion.jpg").write_bytes(motion.getvalue() + b"\0\0\0\x18ftypmp42" + b"\xff\xda\0\2" * 200)  # (an MP4)
    names = ["scans.jpg", "progressive.jpg", "hundred.jpg", "motion.jpg", "camera.jpg"]
    code, out, err = run_cli(predict, [checkpoint, *(str(workdir / name) for name in names)], capsys)
    refused = [line for line in err.splitlines() if "unreadable image" in line]
    assert code == 1 and refused == [f"test.py: error: {workdir / name}: unreadable image (a JPEG of over 100 scans, "
                                     "which would take minutes to decode)" for name in ("scans.jpg", "camera.jpg")], err
    assert [line.split(": ")[0] for line in out.splitlines()[:3]] == [str(workdir / name) for name in names[1:4]], out


def test_sixteen_bit_images_are_scaled_not_clipped():
    from data import to_rgb
    img = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))
    assert np.asarray(to_rgb(img))[0, 0].tolist() == [128, 128, 128]


def test_topk_and_json(checkpoint, workdir, capsys):
    Image.new("RGB", (32, 32), (200, 10, 10)).save(workdir / "red.png")
    code, out, _ = run_cli(predict, [checkpoint, str(workdir / "red.png"), "--topk", "3", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    # The network's own three most probable classes, computed here as training normalizes its inputs
    # (the classes' names, c0 … c9, alone would all pass).
    saved = torch.load(checkpoint, weights_only=True)
    net = Tudui()
    net.load_state_dict(saved["model"])
    x = train.prepare(data.load_image(str(workdir / "red.png"))[None], saved["normalize"])
    top = net(x).softmax(1)[0].topk(3)
    assert [p["class"] for p in result[0]["predictions"]] == [f"c{i}" for i in top.indices.tolist()]
    assert [p["probability"] for p in result[0]["predictions"]] == [round(q, 4) for q in top.values.tolist()]


def test_each_image_gets_its_own_prediction_around_an_unreadable_one_and_topk_lists_them_all(checkpoint, workdir,
                                                                                             capsys):
    """Predictions zipped onto every entry gave the one after an unreadable image the wrong answer;
    the text output showed the first class alone with --topk 3; --topk above the classes was a
    traceback: each passed every test (a helper's mutants, 2026-11-27)."""
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(name)
    open("bad.png", "wb").write(b"not a png")
    alone = {}
    for name in ("a.png", "b.png"):
        code, out, _ = run_cli(predict, [checkpoint, name, "--topk", "3"], capsys)
        alone[name] = out
    assert alone["a.png"].split(": ")[1] != alone["b.png"].split(": ")[1]
    code, out, err = run_cli(predict, [checkpoint, "a.png", "bad.png", "b.png", "--topk", "3"], capsys)
    assert code == 1 and out == alone["a.png"] + alone["b.png"] and err.startswith("test.py: error: bad.png")
    assert len(alone["a.png"].split(", ")) == 3  # three classes and their probabilities on the line
    code, out, err = run_cli(predict, [checkpoint, "a.png", "--topk", "20", "--json"], capsys)
    assert code == 0 and len(json.loads(out)[0]["predictions"]) == 10, err  # every class, not a traceback


def test_printed_probabilities_show_the_four_digits_json_holds(checkpoint, workdir, capsys):
    """Each printed probability is the --json one, all four digits: printed to three (0.9225 as 0.922, or
    0.923 rounded twice), every test passed (a mutation check's survivor, 2026-11-27)."""
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save("a.png")
    code, out, err = run_cli(predict, [checkpoint, "a.png", "--topk", "3", "--json"], capsys)
    assert code == 0, err
    held = [f"{p['class']} {p['probability']:.4f}" for p in json.loads(out)[0]["predictions"]]
    code, out, err = run_cli(predict, [checkpoint, "a.png", "--topk", "3"], capsys)
    assert code == 0 and out == f"a.png: {', '.join(held)}\n", err


def test_a_folder_of_images_is_classified_image_by_image_in_name_order(checkpoint, workdir, capsys):
    (workdir / "imgs").mkdir()
    names = ["kiwi.png", "apple.png", "zebra.png", "mango.png", "banana.png", "cherry.png", "fig.png"]
    for i, name in enumerate(names):  # written in this order; the disk may list them in any
        Image.new("RGB", (32, 32), (i * 30, 0, 0)).save(workdir / "imgs" / name)
    (workdir / "imgs" / "._kiwi.png").write_bytes(b"\0\5\26\7 AppleDouble")  # macOS's, beside kiwi.png: no image
    code, out, _ = run_cli(predict, [checkpoint, "imgs"], capsys)
    assert code == 0 and [line.split(":")[0] for line in out.splitlines()] == [f"imgs/{n}" for n in sorted(names)]


def test_many_images_are_classified_in_batches_in_the_order_given(checkpoint, workdir, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        paths.append(str(workdir / f"{i}.png"))
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(paths[-1])
    (workdir / "bad.png").write_text("not an image")
    paths.insert(2, str(workdir / "bad.png"))
    code, whole, _ = run_cli(predict, [checkpoint, *paths, "--json", "--topk", "3"], capsys)
    monkeypatch.setattr(predict, "EVAL_BATCH", 2)  # 5 readable images: batches of 2, 2 and 1
    monkeypatch.setattr(predict, "GRID_IMAGES", 4)
    seen, forward = [], Tudui.forward  # the images the network is given at once (one pass over all 5 passed)
    monkeypatch.setattr(Tudui, "forward", lambda self, x: seen.append(len(x)) or forward(self, x))
    code2, batched, _ = run_cli(predict, [checkpoint, *paths, "--json", "--topk", "3", "--save-grid", "g.png"], capsys)
    assert code == code2 == 1 and seen == [2, 2, 1]
    whole, batched = json.loads(whole), json.loads(batched)
    assert [r["image"] for r in batched] == [r["image"] for r in whole] == paths and "error" in batched[2]
    for a, b in zip(whole, batched):  # the same classes; probabilities equal up to float rounding
        assert [p["class"] for p in a.get("predictions", [])] == [p["class"] for p in b.get("predictions", [])]
        assert [p["probability"] for p in a.get("predictions", [])] == \
            pytest.approx([p["probability"] for p in b.get("predictions", [])], abs=2e-4)
    four = pictures.image_grid(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), None, ["c"],
                               torch.zeros(4, dtype=torch.long), torch.zeros(4))
    with Image.open("g.png") as grid:
        assert grid.size == (four.shape[1], four.shape[0])  # the first 4 images, not all 5


@needs_fixtures
@pytest.mark.parametrize("name", ["tudui_9.pth", "tudui_29_gpu.pth", "tudui_0.pth"])
def test_tutorial_whole_model_pickles_load_safely(name, capsys):
    code, out, err = run_cli(predict, [os.path.join(FIXTURES, name), os.path.join(FIXTURES, "dog.png"),
                                       os.path.join(FIXTURES, "airplane.png")], capsys)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 2
    if name == "tudui_29_gpu.pth":  # the 30-epoch GPU model, pickled as __main__.Tudui
        assert "dog.png: dog" in out and "airplane.png: airplane" in out
    # The probabilities the tutorial's own preprocessing gives (convert("RGB"), Resize((32, 32)),
    # ToTensor): they differed in the third digit (until 2026-11-26, a faster approximate resize).
    import torchvision.transforms as T
    from checkpoint import CIFAR10_CLASSES, TUTORIAL_PICKLE_CLASSES
    with torch.serialization.safe_globals(TUTORIAL_PICKLE_CLASSES):
        tutorial_model = torch.load(os.path.join(FIXTURES, name), map_location="cpu", weights_only=True)
    for image in ("dog.png", "airplane.png"):
        x = T.Compose([T.Resize((32, 32)), T.ToTensor()])(Image.open(os.path.join(FIXTURES, image)).convert("RGB"))
        with torch.no_grad():
            probs = tutorial_model.eval()(x[None]).softmax(1)[0]
        shown = f"{CIFAR10_CLASSES[probs.argmax()]} {probs.max():.4f}"
        assert f"{image}: {shown}" in out, (shown, out)


@needs_fixtures
def test_tutorial_pickles_hold_their_module_names():
    """The fixtures cover both names a tutorial pickle may carry; both were saved from CUDA
    tensors, which the test above loads on machines without a GPU."""
    found = {}
    for f in ("tudui_9.pth", "tudui_29_gpu.pth"):
        with zipfile.ZipFile(os.path.join(FIXTURES, f)) as z:
            pkl = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
        found[f] = {"__main__": b"__main__" in pkl, "cuda": b"cuda" in pkl}
    assert found == {"tudui_9.pth": {"__main__": False, "cuda": True},
                     "tudui_29_gpu.pth": {"__main__": True, "cuda": True}}


def test_a_tudui_pickled_with_an_attribute_named_state_dict_is_read_as_a_tudui(workdir, capsys):
    """A hand-made pickle: the allowlist lets nn.Linear through, and calling the object's own
    state_dict called nn.Linear() instead, a traceback (until 2026-11-27). nn.Module's is used."""
    torch.manual_seed(0)
    net = Tudui()
    torch.save(net.state_dict(), "plain.pth")
    net.__dict__["state_dict"] = torch.nn.Linear
    torch.save(net, "odd.pth")
    Image.new("RGB", (32, 32)).save("x.png")
    code, plain, _ = run_cli(predict, ["plain.pth", "x.png"], capsys)
    code, out, err = run_cli(predict, ["odd.pth", "x.png"], capsys)
    assert code == 0 and out == plain, err


def test_a_folder_of_images_names_the_files_it_leaves_out_for_their_extension(workdir, capsys):
    torch.save(Tudui().state_dict(), workdir / "sd.pth")
    os.mkdir("pics")
    Image.new("RGB", (32, 32)).save("pics/a.png")
    Image.new("RGB", (32, 32)).save("pics/b.gif")
    code, out, err = run_cli(predict, [str(workdir / "sd.pth"), "pics"], capsys)
    assert code == 0 and out.startswith("pics/a.png") and len(out.splitlines()) == 1
    assert err.startswith("note: ignored 1 file(s) in pics that are not images by their extension (.gif); images "
                          "end in .jpg, .jpeg, .png, .ppm, .bmp, .pgm, .tif, .tiff, .webp\nnote: ") and \
        err.count("\n") == 2  # (and the note on weights alone)
    os.makedirs("pics/sub/deeper")  # images in subfolders are not classified: said (silent until 2026-11-27 00:32 UTC)
    Image.new("RGB", (32, 32)).save("pics/sub/c.png")
    code, out, err = run_cli(predict, [str(workdir / "sd.pth"), "pics"], capsys)
    assert code == 0 and len(out.splitlines()) == 1
    assert "note: the images directly in pics are classified, not those in its 1 subfolder(s) (sub)" in err
    # A subfolder named like an image was taken for one, and said to hold no image (until 2026-11-27).
    os.rename("pics/sub", "pics/sub.jpg")
    code, out, err = run_cli(predict, [str(workdir / "sd.pth"), "pics"], capsys)
    assert code == 0 and out.startswith("pics/a.png") and len(out.splitlines()) == 1
    assert "not those in its 1 subfolder(s) (sub.jpg)" in err


@pytest.mark.parametrize("wrap", [
    lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()},  # torch.compile(model)
    # Of networks of other than 10 classes, refused as "for another network" until 2026-11-27, and
    # torch.compile(DDP(model)) refused whatever its classes:
    lambda sd: {f"module.{k}": v for k, v in sd.items()},  # DDP(model), nn.DataParallel(model)
    lambda sd: {f"_orig_mod.module.{k}": v for k, v in sd.items()},  # torch.compile(DDP(model))
    lambda sd: {f"module._orig_mod.{k}": v for k, v in sd.items()},  # DDP(torch.compile(model))
    # PyTorch's recipe for a general checkpoint, and a "state_dict" entry ("not a checkpoint of this
    # project or of the tutorial" until 2026-11-27):
    lambda sd: {"epoch": 3, "model_state_dict": sd, "optimizer_state_dict": {"state": {}}, "loss": 0.5},
    lambda sd: {"state_dict": sd},
], ids=["compile", "ddp", "compile of ddp", "ddp of compile", "general checkpoint", "state_dict entry"])
def test_weights_of_wrapped_networks_and_of_other_loops_checkpoints_load_as_saved(workdir, capsys, wrap):
    torch.manual_seed(0)
    weights = Tudui(5).state_dict()
    torch.save(weights, "plain.pth")
    torch.save(wrap(weights), "wrapped.pth")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save("x.png")
    code, plain, err = run_cli(predict, ["plain.pth", "x.png", "--topk", "5"], capsys)
    assert code == 0, err
    code, out, err = run_cli(predict, ["wrapped.pth", "x.png", "--topk", "5"], capsys)
    assert code == 0 and out == plain, err


def test_a_key_of_a_million_wrapper_prefixes_is_unwrapped_at_once(workdir, capsys):
    """module. taken off one at a time copied the rest of the key each time: 1.5 s for 100,000 prefixes, minutes
    for a million (a file of 7 MB), hours for ten (until 2026-11-28, a helper)."""
    weights = Tudui().state_dict()
    weights["module." * 10**6 + "model.0.weight"] = weights.pop("model.0.weight")
    torch.save(weights, "wrapped.pth")
    Image.new("RGB", (32, 32)).save("x.png")
    with within(10):
        code, out, err = run_cli(predict, ["wrapped.pth", "x.png"], capsys)
    assert code == 0 and out.startswith("x.png: "), err


def test_class_names_saved_as_an_imagefolders_class_to_idx_name_the_outputs(tiny, workdir, capsys):
    """Many transfer-learning projects save an ImageFolder's class_to_idx beside the weights: it was
    ignored, the outputs called class_0, class_1, … and, scored on a folder, taken as holding no names (until
    2026-11-28, a helper's probe). The names go in the order of their numbers; a map that is not of names
    to 0 … n-1 is refused, as a malformed `classes` is."""
    weights = Tudui(3).state_dict()
    weights["model.8.weight"].zero_()
    weights["model.8.bias"].copy_(torch.tensor([1.0, 3.0, 2.0]))  # output 1 the most likely, then 2, then 0
    Image.new("RGB", (32, 32)).save("x.png")
    for i, saved in enumerate([{"epoch": 3, "model_state_dict": weights, "optimizer_state_dict": {"state": {}},
                                "class_to_idx": {"stripes": 0, "circle": 2, "cross": 1}},
                               {"state_dict": weights, "class_to_idx": {"stripes": 0, "circle": 2, "cross": 1}},
                               {"model": weights, "class_to_idx": {"stripes": 0, "circle": 2, "cross": 1}}]):
        torch.save(saved, f"own{i}.pth")
        code, out, err = run_cli(predict, [f"own{i}.pth", "x.png", "--topk", "3", "--json"], capsys)
        assert code == 0, err
        assert [p["class"] for p in json.loads(out)[0]["predictions"]] == ["cross", "circle", "stripes"]
    # As an ImageFolder of the folder scored numbers them: its names, and no note that there are none.
    torch.save({"model_state_dict": Tudui(3).state_dict(), "class_to_idx": {name: i for i, name in enumerate(CLASSES)}},
               "folder.pth")
    code, out, err = run_cli(predict, ["folder.pth", "--data-dir", tiny, "--json"], capsys)
    assert code == 0 and json.loads(out)["classes"] == CLASSES and "class names" not in err, err
    for class_to_idx in ({"circle": 1, "cross": 2, "stripes": 3}, {"circle": 0, "cross": 0, "stripes": 1},
                         {"circle": 0, "cross": 1, 2: 2}, {"circle": 0, "cross": 1, "stripes": 2.0},
                         {"circle": False, "cross": True, "stripes": 2}, ["circle", "cross", "stripes"]):
        torch.save({"model_state_dict": weights, "class_to_idx": class_to_idx}, "bad.pth")
        code, out, err = run_cli(predict, ["bad.pth", "x.png"], capsys)
        assert code == 2 and out == "" and err == (
            "test.py: error: bad.pth has a malformed 'class_to_idx' entry: expected class names numbered 0, 1, …\n")
    torch.save({"model_state_dict": weights, "class_to_idx": {"circle": 0, "cross": 1}}, "two.pth")
    code, out, err = run_cli(predict, ["two.pth", "x.png"], capsys)
    assert code == 2 and err == "test.py: error: two.pth names 2 classes, but its network has 3 outputs\n", err


def test_a_checkpoint_with_damaged_bytes_is_named_not_used(checkpoint, workdir, capsys):
    """torch.load does not check the CRC-32s of the zip it reads: bits flipped on a disk or in a copy
    loaded as other weights, and test.py predicted with them at 1.0000 (until 2026-11-27)."""
    raw = bytearray(open(checkpoint, "rb").read())
    with zipfile.ZipFile(checkpoint) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("/data/0"))  # the first weights
    name_size, extra_size = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    raw[info.header_offset + 30 + name_size + extra_size + 3] ^= 0x40  # a high bit of the first float
    open("damaged.pth", "wb").write(raw)
    Image.new("RGB", (32, 32)).save("x.png")
    code, out, err = run_cli(predict, ["damaged.pth", "x.png"], capsys)
    assert code == 2 and out == "" and err == (
        "test.py: error: checkpoint damaged.pth is truncated or corrupt (Bad CRC-32 for file 'net/data/0')\n")
    # A file saved without CRC-32s (torch's option, which leaves them 0) has none to check, and loads.
    from torch.utils.serialization import config
    with config.patch({"save.compute_crc32": False}):  # (monkeypatch's undo broke every later torch.save in torch 2.8)
        torch.save(torch.load(checkpoint, weights_only=True), "no_crc.pth")
    with zipfile.ZipFile("no_crc.pth") as z:
        assert {i.CRC for i in z.infolist()} == {0}
    code, out, err = run_cli(predict, ["no_crc.pth", "x.png"], capsys)
    assert code == 0 and out.startswith("x.png: "), err


def test_a_bare_state_dict_works(workdir, capsys):
    torch.save(Tudui().state_dict(), workdir / "sd.pth")
    Image.new("RGB", (32, 32)).save(workdir / "x.png")
    code, out, _ = run_cli(predict, [str(workdir / "sd.pth"), str(workdir / "x.png")], capsys)
    assert code == 0 and out.startswith(str(workdir / "x.png"))


def test_a_ten_class_file_without_names_calls_its_outputs_by_cifar10s_names_in_cifar10s_order(workdir, capsys):
    """The tutorial's files hold no names: output k is CIFAR-10's class k. Two names swapped in that list
    passed every test that runs without ../shared (a helper's mutant, 2026-11-27)."""
    weights = Tudui().state_dict()
    weights["model.8.weight"].zero_()
    weights["model.8.bias"].copy_(torch.arange(10, 0, -1))  # output 0 the most likely, then 1, ...
    torch.save(weights, "sd.pth")
    Image.new("RGB", (32, 32)).save("x.png")
    code, out, err = run_cli(predict, ["sd.pth", "x.png", "--topk", "10", "--json"], capsys)
    assert code == 0, err
    assert [p["class"] for p in json.loads(out)[0]["predictions"]] == [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_a_bare_state_dict_of_other_than_ten_classes_gets_no_cifar10_names(tiny, workdir, capsys):
    """It was given CIFAR-10's first names: a 3-class cat/dog/frog network said "automobile"
    (until 2026-11-26 15:02 UTC). Scored on an image folder, it takes the folder's names, in the
    sorted order in which ImageFolder, the tutorial's loader, numbered them."""
    torch.save(Tudui(len(CLASSES)).state_dict(), workdir / "sd3.pth")
    Image.new("RGB", (32, 32)).save(workdir / "x.png")
    code, out, err = run_cli(predict, [str(workdir / "sd3.pth"), str(workdir / "x.png"), "--topk", "3", "--json"],
                             capsys)
    assert code == 0 and sorted(p["class"] for p in json.loads(out)[0]["predictions"]) == ["class_0", "class_1",
                                                                                          "class_2"], err
    code, out, err = run_cli(predict, [str(workdir / "sd3.pth"), "--data-dir", tiny, "--json"], capsys)
    assert code == 0 and json.loads(out)["classes"] == CLASSES, err
    # Three names are the whole list: no … after them (until 2026-11-28, a helper's probe).
    assert "in sorted order (circle, cross, stripes), not as class_0, class_1, class_2\n" in err, err
    # So does one of 10 classes, CIFAR-10's by default: the tutorial's loop on a 10-class folder of one's own.
    ten = [f"kind{i}" for i in range(10)]
    for split in ("train", "test"):
        for name in ten:
            os.makedirs(workdir / "ten" / split / name)
            Image.new("RGB", (32, 32)).save(workdir / "ten" / split / name / "0.png")
    torch.save(Tudui().state_dict(), workdir / "sd10.pth")
    code, out, err = run_cli(predict, [str(workdir / "sd10.pth"), "--data-dir", str(workdir / "ten"), "--json"], capsys)
    assert code == 0 and json.loads(out)["classes"] == ten, err
    # Said, since the network may have been trained on CIFAR-10 (it was silent until 2026-11-27; a helper
    # scored the tutorial's tudui_29_gpu.pth at 0.23 on a folder naming two classes plane and car):
    assert f"\nnote: {workdir / 'sd10.pth'} holds no class names: its 10 outputs are taken as {workdir / 'ten'}'s " \
        "classes in sorted order (kind0, kind1, kind2, …), not as airplane, automobile, bird, …\n" in err
    cifar = workdir / "cifar"
    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            os.makedirs(cifar / split / name)
            Image.new("RGB", (32, 32)).save(cifar / split / name / "0.png")
    code, out, err = run_cli(predict, [str(workdir / "sd10.pth"), "--data-dir", str(cifar), "--json"], capsys)
    assert code == 0 and "holds no class names" not in err, err  # the names it has
    # Of another number of classes than the folder: said as such, where the line listed every name on either
    # side, class_0 to class_99 made up here among them (until 2026-11-28, a helper).
    torch.save(Tudui(100).state_dict(), workdir / "sd100.pth")
    code, out, err = run_cli(predict, [str(workdir / "sd100.pth"), "--data-dir", str(cifar)], capsys)
    assert code == 2 and err == (f"test.py: error: {workdir / 'sd100.pth'} holds no class names and its network has "
                                 f"100 outputs, but {cifar} has 10 classes\n"), err
    code, out, err = run_cli(predict, [str(workdir / "sd3.pth"), "--data-dir", str(cifar)], capsys)  # fewer outputs
    assert code == 2 and err.endswith(f"its network has 3 outputs, but {cifar} has 10 classes\n"), err


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_never_runs(workdir, capsys):
    marker = workdir / "pwned"
    torch.save({"model": Payload(marker)}, workdir / "evil.pth")
    Image.new("RGB", (32, 32)).save(workdir / "x.png")
    code, _, err = run_cli(predict, [str(workdir / "evil.pth"), str(workdir / "x.png")], capsys)
    assert code == 2 and "refusing" in err and "Traceback" not in err and "system" in err
    # Not PyTorch's advice to load it with weights_only=False (quoted until 2026-11-26 15:56 UTC):
    assert "weights_only" not in err and err.count("\n") == 1
    assert not marker.exists()
    code, _, err = run_cli(train, ["--resume", str(workdir / "evil.pth")], capsys)
    assert code == 2 and "refusing" in err and not marker.exists()


class Calls:
    """Pickled as a call of `function` with `args`, as a file made by hand may be."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


def test_a_small_file_naming_a_vast_number_of_classes_is_refused_before_a_network_of_that_size_is_built(
        workdir, capsys, monkeypatch):
    """A file of a few MB naming millions of classes, the last layer left out (so no count is compared
    before the network is made), had test.py build it: for 4 million, 1.7 GB and 10 s before the keys
    were found wrong (until 2026-11-27; a helper's review). Shapes are now compared on the meta device."""
    import checkpoint
    weights = Tudui().state_dict()
    del weights["model.8.weight"], weights["model.8.bias"]
    # 100,000 classes: as strict as millions for what is checked (Watched fails any network of 1,000 outputs or
    # more built off the meta device, and any built off it at all), without pickling and reading 2 million
    # strings (3 s of the test's 5 s, 2026-11-28).
    torch.save({"model": weights, "classes": ["a"] * 100_000, "config": {}}, "big.pth")
    built = []

    class Watched(Tudui):
        def __init__(self, num_classes=10):
            built.append(torch.get_default_device().type)
            assert built[-1] == "meta" or num_classes < 1000, "a network of 100,000 outputs was built"
            super().__init__(num_classes)
    monkeypatch.setattr(checkpoint, "Tudui", Watched)
    Image.new("RGB", (32, 32)).save("x.png")
    code, _, err = run_cli(predict, ["big.pth", "x.png"], capsys)
    assert code == 2 and "big.pth is for another network: missing ['model.8.weight', 'model.8.bias']" in err, err
    assert built and set(built) == {"meta"}, built

@pytest.mark.parametrize("kind", ["expanded", "meta", "sparse", "sparse CSR"])
@pytest.mark.filterwarnings("ignore:Sparse:UserWarning")  # (torch's on making the CSR one: in beta, unchecked)
def test_weights_of_a_vast_shape_that_the_file_does_not_hold_are_refused_before_classes_are_counted(
        workdir, capsys, kind):
    """The last layer expanded from one number (stride 0), or on the meta device, or sparse: a file of a few KB
    whose weights have any shape. Its outputs were taken for classes: a name made for each (10**12: a hang and
    memory without end) and, expanded, the network built (10**7: 5.5 GB and 17 s, then a prediction, exit 0)
    (until 2026-11-28, a helper). A million here: classified, or refused after the names, without the check."""
    n = 10**6
    weight, bias = {"expanded": lambda: (torch.zeros(1, 64).expand(n, 64), torch.zeros(1).expand(n)),
                    "meta": lambda: (torch.empty(n, 64, device="meta"), torch.empty(n, device="meta")),
                    "sparse": lambda: (torch.zeros(1, 64).to_sparse().sparse_resize_((n, 64), 2, 0),
                                       torch.zeros(1).to_sparse().sparse_resize_((n,), 1, 0)),
                    # (a layout of its own, not is_sparse: a NotImplementedError traceback from untyped_storage() if
                    # let through, untested until a helper's mutation run, 2026-11-28)
                    "sparse CSR": lambda: (torch.sparse_csr_tensor(torch.zeros(n + 1, dtype=torch.int32),
                                                                   torch.zeros(0, dtype=torch.int32), torch.zeros(0),
                                                                   (n, 64)),
                                           torch.zeros(1).to_sparse().sparse_resize_((n,), 1, 0))}[kind]()
    torch.save({**Tudui().state_dict(), "model.8.weight": weight, "model.8.bias": bias}, "vast.pth")
    Image.new("RGB", (32, 32)).save("x.png")
    code, _, err = run_cli(predict, ["vast.pth", "x.png"], capsys)
    assert code == 2 and err == ("test.py: error: vast.pth holds model.8.weight as a (1000000, 64) tensor whose "
                                 "numbers are not all in the file (sparse, on the meta device or expanded), not plain "
                                 "weights\n"), err



def test_a_pickle_that_calls_a_class_the_tutorials_files_hold_is_refused_and_the_class_never_runs(workdir, capsys,
                                                                                                   monkeypatch):
    """The tutorial's pickles hold its network's classes, made without calling them; a file of 800 bytes
    that called nn.Linear(12000, 12000) had test.py allocate 576 MB, and any size it liked (until
    2026-11-27, a helper)."""
    torch.save(Calls(nn.Linear, 3, 3), "linear.pth")
    torch.save({"model": Calls(Tudui, 10)}, "tudui.pth")
    torch.save(Tudui(), "whole.pth")  # as the tutorial saves it
    Image.new("RGB", (32, 32)).save("x.png")
    made = []
    for cls in (nn.Linear, Tudui):
        init = cls.__init__
        monkeypatch.setattr(cls, "__init__", lambda self, *args, init=init: made.append(args) or init(self, *args))
    for name, cls in (("linear.pth", "Linear"), ("tudui.pth", "Tudui")):
        code, _, err = run_cli(predict, [name, "x.png"], capsys)
        assert code == 2 and err.endswith(f"refusing to load {name}: it holds something other than weights (it calls "
                                          f"{cls}(…) instead of holding one)\n"), err
    assert made == []
    code, out, err = run_cli(predict, ["whole.pth", "x.png"], capsys)
    assert code == 0 and out.startswith("x.png: "), err


def test_a_file_that_is_no_checkpoint_says_what_it_is(workdir, capsys):
    """A WebP photo given as the checkpoint was "truncated or corrupt (IndexError)", where other
    images were named as such; a downloaded checkpoint zipped up "truncated or corrupt
    (RuntimeError)", and so were a TorchScript file and a safetensors file; a DataParallel saved whole got no
    hint; a Keras .h5 was "an image" (until 2026-11-27, helpers)."""
    Image.new("RGB", (32, 32)).save("dog.webp")
    torch.save(Tudui().state_dict(), "tudui_9.pth")
    with zipfile.ZipFile("download.pth", "w") as z:
        z.write("tudui_9.pth")
    torch.save(nn.DataParallel(Tudui()), "dp.pth")
    with zipfile.ZipFile("scripted.pth", "w") as z:  # the members torch.jit.save writes beside data.pkl
        for name in ("data.pkl", "constants.pkl", "code/__torch__.py"):
            z.writestr(f"scripted/{name}", b"")
    with open("keras.h5", "wb") as f:  # an HDF5 file, which Pillow recognizes and cannot read
        f.write(b"\x89HDF\r\n\x1a\n" + bytes(100))
    header = b'{"model.0.bias": {"dtype": "F32", "shape": [32], "data_offsets": [0, 128]}}'
    with open("model.safetensors", "wb") as f:  # its layout: the header's length, the JSON header, the bytes
        f.write(len(header).to_bytes(8, "little") + header + bytes(128))
    torch.save({}, "empty_dict.pth")
    Image.new("RGB", (32, 32)).save("x.png")
    for name, message in (("dog.webp", "dog.webp is an image, not a checkpoint"),
                          ("empty_dict.pth", "empty_dict.pth is not a checkpoint of this project or of the tutorial"),
                          ("download.pth", "download.pth is a zip archive of tudui_9.pth, not a checkpoint: unzip it "
                                           "and pass the file inside"),
                          ("dp.pth", "DataParallel was not an allowed global by default); a network wrapped in "
                                     "DataParallel or DDP and saved whole cannot be read safely: save "
                                     "model.module.state_dict() instead"),
                          ("scripted.pth", "scripted.pth is a TorchScript file (torch.jit.save), which holds code: "
                                           "save the network's state_dict() instead"),
                          ("keras.h5", "keras.h5 is not a checkpoint: not a file torch.save wrote"),
                          ("model.safetensors", "model.safetensors is a safetensors file: read it with "
                                                "safetensors.torch.load_file(), then torch.save() the state_dict it "
                                                "gives")):
        code, _, err = run_cli(predict, [name, "x.png"], capsys)
        assert code == 2 and err.endswith(message + "\n") and err.count("\n") == 1, err


def test_a_zip_bomb_given_as_a_checkpoint_is_refused_before_its_members_are_read(workdir, capsys):
    """torch.save stores its members as they are. Deflated, a file of 1.5 MB held a 1 GB tensor that torch.load
    made (1000 times the file); a central directory naming one member 2,000 times had the CRC check read 4 MB
    2,000 times over, 8 GB in 4 s, and more the larger the file, without end (until 2026-11-28, a helper)."""
    torch.save(Tudui().state_dict(), "tudui_9.pth")
    # bzip2's members too (1.4 KB of them held 256 MB for the CRC check to read): a check for deflate's alone let them
    # through, untested until a helper's mutation run (2026-11-28).
    for name, compression in (("deflated.pth", zipfile.ZIP_DEFLATED), ("bzip2.pth", zipfile.ZIP_BZIP2),
                              ("stored.pth", zipfile.ZIP_STORED)):
        with zipfile.ZipFile("tudui_9.pth") as saved, zipfile.ZipFile(name, "w", compression) as z:
            for info in sorted(saved.infolist(), key=lambda info: info.file_size):  # the largest last
                z.writestr(info.filename, saved.read(info))
    data = open("stored.pth", "rb").read()  # (written by zipfile: no zip64 records to mend)
    end = data.rindex(b"PK\x05\x06")  # the end of central directory record, after the last member's entry
    entry = data[data.rindex(b"PK\x01\x02", 0, end):end]
    here, total, size = struct.unpack("<HHI", data[end + 8:end + 16])
    with open("shared.pth", "wb") as f:  # the largest member's entry 1,000 times over, each reading the same bytes
        f.write(data[:end] + entry * 999 + data[end:end + 8] +
                struct.pack("<HHI", here + 999, total + 999, size + 999 * len(entry)) + data[end + 16:])
    Image.new("RGB", (32, 32)).save("x.png")
    code, out, err = run_cli(predict, ["stored.pth", "x.png"], capsys)
    assert code == 0 and out.startswith("x.png: "), err
    for name in ("deflated.pth", "bzip2.pth", "shared.pth"):
        code, _, err = run_cli(predict, [name, "x.png"], capsys)
        assert code == 2 and err == (f"test.py: error: {name} is not a checkpoint torch.save wrote: its zip's members "
                                     "are compressed or overlap\n"), err


def test_a_network_of_ones_own_saved_whole_is_refused_with_what_to_save_instead(workdir, capsys, monkeypatch):
    """A Tudui of one's own package, or with a ReLU added, or saved whole in PyTorch's format of before
    1.6: the line said only what PyTorch refused (the last until 2026-11-27)."""
    with open("mynet.py", "w") as f:
        f.write("from torch import nn\nimport model\n\nclass Tudui(model.Tudui):\n    pass\n\n"
                "def with_relu():\n    m = model.Tudui()\n    m.model.insert(1, nn.ReLU())\n    return m\n")
    monkeypatch.syspath_prepend(str(workdir))
    import mynet
    torch.save(mynet.Tudui(), "own.pth")
    torch.save(mynet.with_relu(), "relu.pth")
    torch.save(Tudui(), "legacy.pth", _use_new_zipfile_serialization=False)  # the format of PyTorch < 1.6
    Image.new("RGB", (32, 32)).save("x.png")
    for name, refused, hint in (("own.pth", "mynet.Tudui", "save its state_dict() instead"),
                                ("relu.pth", "ReLU", "only the tutorial's network can be read (Conv2d, MaxPool2d, "
                                                     "Flatten, Linear)"),
                                ("legacy.pth", "persistent_load", "format of before 1.6 cannot be read safely: save "
                                                                  "its state_dict() instead")):
        code, _, err = run_cli(predict, [name, "x.png"], capsys)
        assert code == 2 and refused in err and err.strip().endswith(hint), err
        assert len(err.strip().splitlines()) == 1
        assert "add_safe_globals" not in err  # PyTorch's advice to let the class load (quoted until 2026-11-27)


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.float8_e5m2, torch.bfloat16, torch.float64])
def test_weights_saved_in_another_float_type_classify(workdir, capsys, dtype):
    """float8_e4m3fn weights: NotImplementedError ("isfinite" not implemented), a traceback (until 2026-11-28,
    a helper); the others classified already."""
    torch.save({k: v.to(dtype) for k, v in Tudui().state_dict().items()}, "w.pth")
    Image.new("RGB", (32, 32)).save("x.png")
    code, out, err = run_cli(predict, ["w.pth", "x.png"], capsys)
    assert code == 0 and out.startswith("x.png: "), err


def test_a_checkpoint_pickled_with_protocol_4_says_how_to_save_it_again(workdir, capsys):
    """torch.save(..., pickle_protocol=4), zipped or in the format of before 1.6, read "it holds something
    other than weights (Unsupported operand 149)" (until 2026-11-28): it holds weights, pickled in frames
    that PyTorch's safe loader does not read."""
    Image.new("RGB", (32, 32)).save("x.png")
    for zipped in (True, False):
        torch.save(Tudui().state_dict(), "p4.pth", pickle_protocol=4, _use_new_zipfile_serialization=zipped)
        try:
            torch.load("p4.pth", weights_only=True)
            pytest.skip("this PyTorch reads pickle protocol 4 safely")
        except pickle.UnpicklingError:
            pass
        code, _, err = run_cli(predict, ["p4.pth", "x.png"], capsys)
        assert code == 2 and err == ("test.py: error: cannot read p4.pth safely: it was saved with pickle_protocol 4 "
                                     "or higher, which torch.load(weights_only=True) does not read; where it was made, "
                                     "save it again with torch.save()'s default protocol\n"), err


def test_a_checkpoint_of_another_architecture_names_the_shapes(workdir, capsys):
    state = Tudui().state_dict()
    state["model.7.weight"] = torch.zeros(64, 2048)
    torch.save(state, workdir / "wide.pth")
    Image.new("RGB", (32, 32)).save(workdir / "x.png")
    code, _, err = run_cli(predict, [str(workdir / "wide.pth"), str(workdir / "x.png")], capsys)
    assert code == 2 and "expected (64, 1024), found (64, 2048)" in err
    torch.save({"fc.weight": torch.zeros(3)}, workdir / "other.pth")
    code, _, err = run_cli(predict, [str(workdir / "other.pth"), str(workdir / "x.png")], capsys)
    assert code == 2 and "another network" in err


CORRUPT = " is truncated or corrupt ("  # said after the file's name


@pytest.mark.parametrize("content, said", [
    (b"", CORRUPT), (b"garbage" * 10, " is not a checkpoint: not a file torch.save wrote"), (None, CORRUPT),
    # Sound zips around malformed pickles: tracebacks of five kinds (until 2026-11-26).
    (zip_holding(b"\x80\x04junkjunk"), CORRUPT), (zip_holding(b"."), CORRUPT), (zip_holding(b"\x80\x02j"), CORRUPT),
    # A persistent id that is no storage, which torch.save never writes: refused, with no hint of PyTorch
    # 1.6's format for a zip (until 2026-11-27 a helper found it read "saved whole in PyTorch's format of
    # before 1.6"). (PyTorch's own words after "got" differ between versions, as does its view of an int id:
    # corrupt in 2.14, refused in 2.8.)
    (zip_holding(b"\x80\x02K\x01Q."), (CORRUPT, ": it holds something other than weights (persistent_load id")),
    (zip_holding(b"\x80\x02X\x01\x00\x00\x00a\x85Q."),
     ": it holds something other than weights (Only persistent_load of storage is allowed, but got "),
], ids=["empty", "text", "cut-short", "junk", "stop", "unknown-opcode", "int", "persistent-id"])
def test_truncated_or_corrupt_checkpoints_are_named(checkpoint, workdir, capsys, content, said):
    """Each named for what it is: every message names the file (a helper found that the file's name
    alone, as this test checked until 2026-11-27, let any message pass)."""
    bad = workdir / "bad.pth"
    bad.write_bytes(content if content is not None else open(checkpoint, "rb").read()[:1000])
    code, _, err = run_cli(predict, [str(bad)], capsys)
    said = said if isinstance(said, tuple) else (said,)  # (any of them)
    assert code == 2 and err.startswith("test.py: error: ") and any(f"{bad}{s}" in err for s in said), err
    assert len(err.strip().splitlines()) == 1 and "1.6" not in err


def test_a_file_that_torch_save_did_not_write_is_named_so(workdir, capsys):
    """README.md or config.json given as the checkpoint read "refusing to load …: it holds something
    other than weights (Unsupported operand 35)", as a pickle that would run code (until 2026-11-27, a
    helper); a download's error page saved as the checkpoint, text starting with a letter that is a
    pickle instruction, was "truncated or corrupt (IndexError)", and a state_dict written by pickle.dump()
    was refused as "something other than weights (Unsupported operand 149)" (until 2026-11-28, a helper)."""
    for name, content in (("README.md", b"# Tudui"), ("config.json", b'{"lr": 0.03}'),
                          ("page.pth", b"Repository Not Found for url: https://huggingface.co/x/resolve/main/a.pth"),
                          ("text.pth", b"this is not a checkpoint\n"), ("denied.pth", b"Unauthorized"),
                          ("hello.pth", b"hello world\n"), ("pickled.pth", pickle.dumps(Tudui().state_dict()))):
        open(name, "wb").write(content)
        code, _, err = run_cli(predict, [name, "x.png"], capsys)
        assert code == 2 and err == f"test.py: error: {name} is not a checkpoint: not a file torch.save wrote\n"


def test_a_missing_checkpoint_or_one_that_is_no_file_is_named_so(workdir, capsys):
    """/dev/null was "not found" (until 2026-11-27)."""
    for path, message in (("missing.pth", "checkpoint missing.pth not found"),
                          (os.devnull, f"checkpoint {os.devnull} is not a file"),
                          # A name's newline split the line, its escape sequence reached the terminal (until
                          # 2026-11-28 23:00 UTC): written as Python escapes them.
                          ("a\nb\x1b[31m.pth", "checkpoint a\\nb\\x1b[31m.pth not found")):
        code, _, err = run_cli(predict, [path], capsys)
        assert code == 2 and err == f"test.py: error: {message}\n"


@pytest.mark.parametrize("normalize", [
    "stripes", {"mean": [0.5] * 3}, {"mean": [0.5] * 3, "std": [0.0] * 3}, {"mean": [0.5] * 3, "std": [0.2] * 2},
    {"mean": [0.5] * 3, "std": [0.2] * 3, "whiten": [0.1] * 10}, {"mean": [0.5] * 3, "std": [float("nan")] * 3},
    # Until 2026-11-26 12:55 UTC an OverflowError, and NaN predictions from numbers float32 cannot hold:
    {"mean": [0.5] * 3, "std": [10**400] * 3}, {"mean": [0.5] * 3, "std": [1e-320] * 3},
    {"mean": [1e308] * 3, "std": [0.2] * 3}, {"mean": [True] * 3, "std": [0.2] * 3},
    {"mean": [0.5] * 3, "std": [0.2] * 3, "scale": [2.0]}])  # an entry of its own: a KeyError (a mutant)
def test_a_malformed_normalization_is_named(workdir, capsys, normalize):
    torch.save({"model": Tudui().state_dict(), "normalize": normalize}, workdir / "odd.pth")
    Image.new("RGB", (32, 32)).save(workdir / "x.png")
    code, _, err = run_cli(predict, [str(workdir / "odd.pth"), str(workdir / "x.png")], capsys)
    assert code == 2 and "odd.pth has a malformed 'normalize'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("entries", [
    {"normalize": {"mean": [0.5] * 3, "std": [0.2] * 3, "whiten": [1e37] * 225}},  # each number fits float32
    {"model": {**Tudui(len(CLASSES)).state_dict(), "model.0.weight": torch.full((32, 3, 5, 5), 1e37)}},
])
@pytest.mark.parametrize("scored", ["image", "test split"])
def test_a_checkpoint_whose_outputs_overflow_is_named_not_scored(tiny, workdir, capsys, entries, scored):
    """Until 2026-11-26 14:24 UTC: NaN probabilities with exit code 0, and NaN in --json, which is not JSON."""
    torch.save({"model": Tudui(len(CLASSES)).state_dict(), "classes": CLASSES, **entries}, workdir / "odd.pth")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(workdir / "x.png")
    args = [str(workdir / "x.png")] if scored == "image" else ["--data-dir", tiny]
    code, out, err = run_cli(predict, [str(workdir / "odd.pth"), *args, "--json"], capsys)
    assert code == 2 and out == "" and err.strip().splitlines()[-1] == (
        f"test.py: error: {workdir / 'odd.pth'} gives outputs that are not finite numbers: "
        "its weights or normalization are too large or too small to use")


@pytest.mark.parametrize("entries, message", [
    ({"model": {"model.0.weight": [0.0] * 3}}, "not a checkpoint of this project"),
    ({"classes": "abcdefghij"}, "malformed 'classes'"),
    ({"classes": [0] * 10}, "malformed 'classes'"),
    ({"config": ["data"]}, "malformed 'config'"),
    ({"optimizer": ["momentum"]}, "malformed 'optimizer'"),
    ({"step": "6"}, "malformed 'step'"),
    ({"step": -1}, "malformed 'step'"),
    ({"step": 2**70}, "malformed 'step'"),
    ({"classes": []}, "has no classes"),
    ({"classes": ["a", "b", "c"]}, "names 3 classes, but its network has 10 outputs"),  # (blamed on the network)
    ({"training_data": {}}, "malformed 'training_data'"),  # what a resume compares: a hand edit is named
    ({"training_data": {"images": "24", "sha256": "0" * 64}}, "malformed 'training_data'"),
    ({"training_data": {"images": torch.tensor([24, 24]), "sha256": "0" * 64}}, "malformed 'training_data'"),
    ({"training_data": {"images": 24, "sha256": "x"}}, "malformed 'training_data'"),
    # Until 2026-11-26 12:55 UTC: tracebacks, a PyTorch warning, or NaN predictions with exit 0.
    ({"model": {**Tudui().state_dict(), "model.8.bias": torch.tensor(0.0)}}, "model.8.bias expected (10,), found ()"),
    ({"model": {**Tudui().state_dict(), "model.8.bias": torch.zeros(10).to_sparse()}}, "not plain weights"),
    ({"model": {**Tudui().state_dict(), "model.8.bias": torch.zeros(10, dtype=torch.complex64)}},
     "holds model.8.bias as a torch.complex64 tensor, not plain weights"),  # (it said "of layout torch.strided" too)
    ({"model": {**Tudui().state_dict(), "model.8.bias": torch.empty(10, device="meta")}}, "not plain weights"),
    ({"model": {**Tudui().state_dict(), "model.8.bias": torch.full((10,), float("nan"))}},
     "holds weights that are not finite numbers (NaN or inf) in model.8.bias"),  # not only the outputs
    # One NaN among finite weights, not only the first of a tensor (a mutant of 2026-11-28 that checked v[:1]).
    ({"model": {**Tudui().state_dict(), "model.8.weight": torch.zeros(640).index_fill_(0, torch.tensor([333]),
                                                                                        float("nan")).view(10, 64)}},
     "holds weights that are not finite numbers (NaN or inf) in model.8.weight"),
])
def test_entries_of_the_wrong_type_are_named(workdir, capsys, entries, message):
    torch.save({"model": Tudui().state_dict(), **entries}, workdir / "odd.pth")
    Image.new("RGB", (32, 32)).save(workdir / "x.png")
    code, _, err = run_cli(predict, [str(workdir / "odd.pth"), str(workdir / "x.png")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_weights_alone_are_said_to_be_scaled_as_the_tutorial_scaled_them(tiny, workdir, capsys, monkeypatch):
    """The weights of a train.py network saved the tutorial's way, torch.save(model.state_dict()),
    scored as the tutorial's, on unnormalized inputs: low, without a word (until 2026-11-27, a
    helper's walkthrough). The tutorial's whole-network files are its own, and get no note."""
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "r", "--epochs", "1", *TRAIN_FAST], capsys)
    assert code == 0, err
    torch.save(torch.load("logs_train/r/checkpoints/last.pth", weights_only=True)["model"], "weights.pth")
    image = os.path.join(tiny, "test", "cross", "000.png")
    note = ("note: weights.pth holds weights alone: images are scaled to [0, 1] as the tutorial's ToTensor() scales "
            "them. A network trained by train.py needs the checkpoint it saved, which records how its inputs were "
            "normalized and whitened\n")
    for argv in ([image], ["--data-dir", tiny]):
        code, _, err = run_cli(predict, ["weights.pth", *argv], capsys)
        assert code == 0 and err.endswith(note), err
        code, _, err = run_cli(predict, ["logs_train/r", *argv], capsys)
        assert code == 0 and "weights alone" not in err, err
    net = Tudui(len(CLASSES))
    net.load_state_dict(torch.load("weights.pth", weights_only=True))
    torch.save(net, "whole.pth")
    code, _, err = run_cli(predict, ["whole.pth", image], capsys)
    assert code == 0 and err == "", err
    code, _, err = run_cli(predict, ["weights.pth", "missing.png"], capsys)  # an error: its one line alone
    assert code == 1 and err == "test.py: error: missing.png: no such file\n"
    # A RANK left in the environment (a notebook's DDP lesson) silenced the note (until 2026-11-28, a helper):
    # only torchrun's processes other than the first keep quiet, and test.py never runs under torchrun.
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    code, _, err = run_cli(predict, ["weights.pth", image], capsys)
    assert code == 0 and err.endswith(note), err


def test_a_saved_data_dir_that_is_no_path_is_not_used(workdir, capsys):
    """Another program's config: a number there was a TypeError (until 2026-11-26 12:55 UTC)."""
    torch.save({"model": Tudui().state_dict(), "config": {"data_dir": 5}}, workdir / "odd.pth")
    code, _, err = run_cli(predict, [str(workdir / "odd.pth")], capsys)
    assert code == 2 and err.startswith("test.py: error: data directory data does not exist. Put ") and \
        len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("train_folder", ["missing", "one class", "another class"])
def test_the_test_split_alone_is_enough_to_score_a_checkpoint(tiny, workdir, capsys, train_folder):
    """test.py asked for DIR/train too, which it never reads (until 2026-11-26 13:35 UTC), and
    refused one it could not have trained on (until 14:23 UTC)."""
    torch.save({"model": Tudui(len(CLASSES)).state_dict(), "classes": CLASSES}, workdir / "net.pth")
    train_dir = os.path.join(tiny, "train")
    shutil.rmtree(train_dir)
    for name in {"missing": [], "one class": ["cat"], "another class": ["cat", "dog"]}[train_folder]:
        os.makedirs(os.path.join(train_dir, name))
        Image.new("RGB", (32, 32)).save(os.path.join(train_dir, name, "0.png"))
    code, out, err = run_cli(predict, [str(workdir / "net.pth"), "--data-dir", tiny, "--json"], capsys)
    assert code == 0 and json.loads(out)["images"] == 12, err


def test_a_streamed_test_split_is_decoded_by_num_workers_processes(tiny, workdir, capsys, monkeypatch):
    """--num-workers was left out there: one process decoded a large test split (until 2026-11-26)."""
    torch.save({"model": Tudui(len(CLASSES)).state_dict(), "classes": CLASSES}, workdir / "net.pth")
    monkeypatch.setattr(data, "MEMORY_LIMIT_BYTES", 0)  # as a test split of over 2 GiB decoded
    workers = []

    class Spy(data.BatchLoader):
        def __init__(self, split, batches, device, num_workers=0):
            workers.append((split.images is None, num_workers))
            super().__init__(split, batches, device, num_workers)
    monkeypatch.setattr(train, "BatchLoader", Spy)
    code, out, err = run_cli(predict, [str(workdir / "net.pth"), "--data-dir", tiny, "--num-workers", "2", "--json"],
                             capsys)
    assert code == 0 and json.loads(out)["images"] == 12, err
    assert workers == [(True, 2)]
    code, out, err = run_cli(predict, [str(workdir / "net.pth"), "--data-dir", tiny, "--json"], capsys)
    assert code == 0 and workers[-1] == (True, train.DEFAULTS["num_workers"]) and workers[-1][1] > 0, err


def test_json_per_class_accuracy_is_the_exact_fraction_of_each_row(workdir, capsys):
    """Computed in float32 they read 0.6666666865348816 for 2 of 3 (until 2026-11-27, a helper)."""
    root = make_dataset(workdir / "three", n_test=3)
    code, _, err = run_cli(train, ["--data-dir", root, "--run-name", "r", "--epochs", "1", *TRAIN_FAST], capsys)
    assert code == 0, err
    code, out, err = run_cli(predict, ["logs_train/r", "--json"], capsys)
    report = json.loads(out)
    rows = report["confusion_matrix"]
    assert code == 0 and report["per_class_accuracy"] == [row[i] / sum(row) for i, row in enumerate(rows)], err
    assert any(0 < row[i] < 3 for i, row in enumerate(rows))  # a fraction float32 cannot hold exactly


def test_test_split_accuracy_matches_training_and_pictures_are_saved(tiny, capsys):
    code, out, err = run_cli(train, ["--data-dir", tiny, "--run-name", "r", "--epochs", "2", *TRAIN_FAST], capsys)
    assert code == 0, err
    trained = torch.load("logs_train/r/checkpoints/last.pth", weights_only=True)["metrics"]["test/accuracy"]
    code, out, err = run_cli(predict, ["logs_train/r", "--json", "--save-grid", "grid.png"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["accuracy"] == trained and report["images"] == 12
    assert len(report["confusion_matrix"]) == 3 and len(report["per_class_accuracy"]) == 3
    assert Image.open("grid.png").size[0] > 0 and Image.open("grid_confusion.png").size[0] > 0
    code, out, _ = run_cli(predict, ["logs_train/r"], capsys)
    assert f"test accuracy {trained:.4f}" in out and "confusion matrix" in out and "stripes" in out
    os.rename(tiny, "copy")  # as on another machine, or from another working directory
    code, _, err = run_cli(predict, ["logs_train/r"], capsys)
    assert code == 2 and f"data directory {tiny} does not exist here: pass --data-dir DIR" in err
    code, out, err = run_cli(predict, ["logs_train/r", "--data-dir", "copy", "--json"], capsys)
    assert code == 0 and json.loads(out)["accuracy"] == trained, err


def test_a_network_that_always_answers_cross_is_scored_as_such(tiny, workdir, capsys, monkeypatch):
    """Rows of the confusion matrix are the true classes, per-class accuracy is each row's share
    (recall), the loss is the mean cross-entropy: checked on a network whose answer is known."""
    weights = Tudui(len(CLASSES)).state_dict()
    weights["model.8.weight"].zero_()
    weights["model.8.bias"].copy_(torch.tensor([0.0, 5.0, 0.0]))  # logits (0, 5, 0) for every image
    torch.save({"model": weights, "classes": CLASSES, "normalize": {"mean": [0.0] * 3, "std": [1.0] * 3}},
               workdir / "cross.pth")
    drawn = []
    confusion_image = pictures.confusion_image
    monkeypatch.setattr(pictures, "confusion_image", lambda m, *args: drawn.append(m.tolist()) or
                        confusion_image(m, *args))
    code, out, err = run_cli(predict, [str(workdir / "cross.pth"), "--data-dir", tiny, "--save-grid", "g.png"],
                             capsys)
    assert code == 0, err
    assert drawn == [[[0, 4, 0], [0, 4, 0], [0, 4, 0]]]  # the picture's rows are the true classes too (a mutant
    # that drew its transpose passed every test, 2026-11-27)
    # The text report's lines (each class's line showed the overall accuracy: a helper's mutant passed, 2026-11-27).
    assert [line.split() for line in out.splitlines()[3:6]] == [["circle", "0.0000"], ["cross", "1.0000"],
                                                                 ["stripes", "0.0000"]]
    assert [line.split() for line in out.splitlines()[-3:]] == [["0", "circle", "0", "4", "0"],
                                                                ["1", "cross", "0", "4", "0"],
                                                                ["2", "stripes", "0", "4", "0"]]
    code, out, err = run_cli(predict, [str(workdir / "cross.pth"), "--data-dir", tiny, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["confusion_matrix"] == [[0, 4, 0], [0, 4, 0], [0, 4, 0]]
    assert report["per_class_accuracy"] == [0.0, 1.0, 0.0] and report["accuracy"] == pytest.approx(1 / 3)
    right, wrong = -math.log(math.exp(5) / (math.exp(5) + 2)), math.log(math.exp(5) + 2)
    assert report["loss"] == pytest.approx((4 * right + 8 * wrong) / 12, rel=1e-5)


def test_data_dir_given_is_the_one_scored_even_where_the_runs_own_exists(tiny, workdir, capsys):
    """The saved data directory taking the place of --data-dir passed every test (a helper's mutant, 2026-11-27)."""
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "r", "--epochs", "1", *TRAIN_FAST], capsys)
    assert code == 0, err
    shutil.copytree(tiny, "copy")
    os.remove(os.path.join("copy", "test", "circle", "000.png"))
    code, out, err = run_cli(predict, ["logs_train/r", "--data-dir", "copy", "--json"], capsys)
    assert code == 0 and json.loads(out)["data_dir"] == "copy" and json.loads(out)["images"] == 11, err
    # The folder scored, in full: a run's own data_dir is looked for from the current folder, which may hold
    # another dataset of its name (until 2026-11-28 the report did not say which, a helper's probe).
    code, out, err = run_cli(predict, ["logs_train/r", "--data-dir", "copy"], capsys)
    assert code == 0 and f"/11 images of the test split in {workdir / 'copy'}), mean loss " in out.splitlines()[0], err


def test_a_checkpoint_is_scored_only_on_data_with_its_class_names(tiny, workdir, capsys):
    torch.save({"model": Tudui(3).state_dict(), "classes": ["cat", "dog", "frog"]}, "r.pth")
    code, _, err = run_cli(predict, ["r.pth", "--data-dir", tiny], capsys)
    assert code == 2 and err.strip().endswith(f"{tiny} has other classes than the checkpoint: only in {tiny}: "
                                              f"{', '.join(CLASSES)}; only in the checkpoint: cat, dog, frog")


@pytest.mark.parametrize("data_path", ["memory", "stream"])
def test_save_grid_of_the_test_split_shows_the_most_confident_mistakes_first(tiny, workdir, capsys, monkeypatch,
                                                                             grids_shown, data_path):
    """Each picture with its own true class. A streamed test split with an unreadable image was a
    traceback (until 2026-11-27, a helper): its probabilities had no row for that image."""
    if data_path == "stream":
        monkeypatch.setattr(data, "MEMORY_LIMIT_BYTES", 0)
        with open(os.path.join(tiny, "test", "circle", "501.png"), "wb") as f:
            f.write(b"not a png")
    truth = {data.load_image(path).numpy().tobytes(): CLASSES.index(os.path.basename(os.path.dirname(path)))
             for path in glob.glob(os.path.join(tiny, "test", "*", "*.png")) if data.is_image(path)}
    torch.manual_seed(0)
    torch.save({"model": Tudui(3).state_dict(), "classes": CLASSES}, "r.pth")
    code, _, err = run_cli(predict, ["r.pth", "--data-dir", tiny, "--save-grid", "g.png"], capsys)
    assert code == 0, err
    images, labels, _, preds, probs = grids_shown[0]
    assert (preds != labels).all() and len(probs) > 1
    assert probs.tolist() == sorted(probs.tolist(), reverse=True) and probs[0] > probs[-1]
    assert [truth[image.numpy().tobytes()] for image in images] == labels.tolist()


def test_save_grid_of_the_test_split_shows_32_mistakes_where_there_are_more(workdir, capsys, grids_shown):
    """The grid's 32 most confident mistakes, not 31: no test split had more than 32 mistakes, and a grid
    one short passed every test (a mutation check's survivor, 2026-11-27)."""
    root = make_dataset(workdir / "many", n_train=1, n_test=17)  # 51 test images
    weights = Tudui(len(CLASSES)).state_dict()
    weights["model.8.weight"].zero_()
    weights["model.8.bias"].copy_(torch.tensor([0.0, 5.0, 0.0]))  # always "cross": 34 mistakes
    torch.save({"model": weights, "classes": CLASSES}, "cross.pth")
    code, _, err = run_cli(predict, ["cross.pth", "--data-dir", root, "--save-grid", "g.png"], capsys)
    assert code == 0, err
    images, labels, _, preds, _ = grids_shown[0]
    assert len(images) == len(labels) == predict.MISTAKES_SHOWN == 32
    assert (preds == 1).all() and (labels != 1).all()


@pytest.mark.parametrize("data_path", ["memory", "stream"])
def test_save_grid_of_a_test_split_without_mistakes_says_so(tiny, capsys, monkeypatch, data_path):
    """Streamed, a checkpoint that made no mistake was a traceback (until 2026-11-27, a helper)."""
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "r", "--epochs", "8", "--lr", "0.01",
                                   "--batch-size", "8", "--num-workers", "0"], capsys)
    assert code == 0, err
    if data_path == "stream":
        monkeypatch.setattr(data, "MEMORY_LIMIT_BYTES", 0)
    code, out, err = run_cli(predict, ["logs_train/r", "--save-grid", "g.png"], capsys)
    assert code == 0, err
    assert "test accuracy 1.0000" in out
    assert Image.open("g.png").size == (pictures.TILE * 2, pictures.TILE // 2)  # "no images to show"


def test_grid_captions_name_the_true_class_and_frame_only_mistakes_in_red():
    x = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    grid = pictures.image_grid(x, torch.tensor([0, 0]), ["a", "b"], torch.tensor([0, 1]), torch.tensor([0.9, 0.9]))
    red = (grid[..., 0] >= 200) & (grid[..., 1] <= 10) & (grid[..., 2] <= 10)
    assert red.any() and np.nonzero(red)[1].min() >= pictures.TILE  # the second tile's frame alone
    classes, predicted = ["a", "bbbbbbbb"], torch.tensor([1])
    true_a, true_b = (pictures.image_grid(x[:1], torch.tensor([t]), classes, predicted, torch.tensor([0.5]))
                      for t in (0, 1))
    line = slice(2 + pictures.TILE + 14, 2 + pictures.TILE + pictures.CAPTION - 3)  # the "true: …" line
    assert not np.array_equal(true_a[line, 4:pictures.TILE - 4], true_b[line, 4:pictures.TILE - 4])
    # Each tile's own prediction in its caption, and its own colours: every caption showing the first
    # tile's, or uint8 images not scaled from 0-255 (white tiles), passed every test (a helper's mutants,
    # 2026-11-27).
    four, labels, probs = ["a", "b", "c", "dddddddd"], torch.tensor([0, 2]), torch.tensor([0.9, 0.9])
    second = (slice(2 + pictures.TILE, 2 + pictures.TILE + 14), slice(pictures.TILE + 6, 2 * pictures.TILE))
    said_b, said_d = (pictures.image_grid(x, labels, four, torch.tensor([0, p]), probs)[second] for p in (1, 3))
    assert not np.array_equal(said_b, said_d)  # (both wrong, both framed in red: the text differs)
    coloured = torch.zeros_like(x)
    coloured[0, 0], coloured[1, 2] = 200, 200  # a red picture, a blue one
    tiles = pictures.image_grid(coloured, None, ["a", "b"])[2:2 + pictures.TILE].reshape(-1, 3)
    assert (tiles == [200, 0, 0]).all(1).sum() == (tiles == [0, 0, 200]).all(1).sum() == pictures.TILE ** 2
    # Eight to a row, captions under their own tiles: the ninth starts the second row.
    nine = pictures.image_grid(torch.zeros(9, 3, 32, 32, dtype=torch.uint8), None, ["a"], torch.zeros(9, dtype=int),
                               torch.full((9,), 0.5))
    row = pictures.TILE + pictures.CAPTION + 2
    assert nine.shape == (2 + 2 * row, 2 + 8 * (pictures.TILE + 2), 3)
    assert (nine[row + pictures.TILE + 2:row + pictures.TILE + 16, 2:pictures.TILE] < 60).all(-1).any()  # its caption
    # Nothing to caption (TensorBoard's augmented training batch): no empty band under each row.
    assert pictures.image_grid(x, None, ["a", "b"]).shape == (pictures.TILE + 4, 2 * pictures.TILE + 6, 3)
    # One's own images have no true class: their captions are neither green (right) nor red (wrong).
    own = pictures.image_grid(x, None, ["a", "b"], torch.tensor([0, 1]), torch.tensor([0.9, 0.9])).astype(int)
    r, g = own[..., 0], own[..., 1]
    assert not ((g - r > 60) | (r - g > 60)).any() and (own[pictures.TILE + 2:] < 60).all(-1).any()


@pytest.mark.parametrize("as_json", [False, True])
def test_predictions_piped_into_head_still_save_the_grid(checkpoint, workdir, capsys, monkeypatch, as_json):
    """The grid was saved after the predictions were printed: lost, with a silent exit 1, when the
    reader had gone (until 2026-11-27, found by a helper)."""
    Image.new("RGB", (32, 32)).save("x.png")

    def reader_gone(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setattr(predict, "print_predictions", reader_gone)
    monkeypatch.setattr(predict.json, "dumps", reader_gone)  # (--json's text is made just before it is printed)
    code, _, err = run_cli(predict, [checkpoint, "x.png", *(["--json"] if as_json else []), "--save-grid", "g.png"],
                           capsys)
    assert code == 1 and "Traceback" not in err and os.path.getsize("g.png") > 0


def test_save_grid_never_replaces_a_file_it_did_not_draw(checkpoint, workdir, capsys):
    """`--save-grid photos/*.png` made the glob's first match the picture: the others were classified, the
    first photo replaced, exit 0; and `a.png --save-grid a.png` replaced the photo classified (until
    2026-11-28, a helper). Then only a glob's likely shape was caught: a photo named otherwise, or a test
    image on the test split (`--data-dir d --save-grid d/test/a/0.png`: the split one image richer, the
    picture scored), was replaced, and a rerun taken for a glob refused (until 2026-11-28, a helper's probe)."""
    os.mkdir("photos")
    for i in range(4):
        Image.new("RGB", (32, 32), (60 * i, 0, 0)).save(f"photos/{i}.png")
    Image.new("RGB", (32, 32)).save("photos/g_confusion.png")
    before = {path: open(path, "rb").read() for path in glob.glob("photos/*")}
    others = "exists and is not a picture whose EXIF says test.py drew it"
    in_a_glob = f"{others} (a glob put after --save-grid makes its first match the picture)"
    for argv, said in [(["--save-grid", "photos/0.png", "photos/1.png", "photos/2.png"], f"photos/0.png {in_a_glob}"),
                       (["photos/3.png", "--save-grid", "photos/2.png"], f"photos/2.png {in_a_glob}"),
                       (["--save-grid", "photos/1.png"], f"photos/1.png {in_a_glob}"),  # on the test split
                       (["--save-grid", "photos/g.png"], f"photos/g_confusion.png {others} (the confusion matrix's"),
                       (["photos/0.png", "--save-grid", "photos/0.png"], "photos/0.png is one of the images to "
                                                                          "classify"),
                       (["photos", "--save-grid", "photos/0.png"], "photos/0.png is one of the images to classify")]:
        code, out, err = run_cli(predict, [checkpoint, *argv], capsys)
        assert code == 2 and out == "" and err.count("\n") == 1 and f"error: argument --save-grid: {said}" in err, err
        assert {path: open(path, "rb").read() for path in glob.glob("photos/*")} == before
    # A picture an earlier run drew is replaced by a rerun (its EXIF says test.py drew it), in JPEG too: beside
    # the images it classifies, or named first as a glob would name it; in BMP, which has no EXIF, it is not.
    for argv in (["photos/1.png", "--save-grid", "grid.png"], ["--save-grid", "photos/grid.png", "photos/1.png"],
                 ["--save-grid", "photos/grid.jpg", "photos/1.png"], ["photos/1.png", "--save-grid", "grid.bmp"]):
        code, _, err = run_cli(predict, [checkpoint, *argv], capsys)
        assert code == 0, err
        first = os.stat(argv[argv.index("--save-grid") + 1]).st_ino
        code, _, err = run_cli(predict, [checkpoint, *argv], capsys)
        if argv[-1] == "grid.bmp":
            assert code == 2 and f"grid.bmp {others}" in err, err
        else:  # (written anew: a file of its own, renamed over the first)
            assert code == 0 and os.stat(argv[argv.index("--save-grid") + 1]).st_ino != first, err
    code, out, err = run_cli(predict, [checkpoint, "photos/1.png", "missing.png", "--save-grid", "grid.png"], capsys)
    assert code == 1 and "photos/1.png: " in out and err.endswith("missing.png: no such file\n"), err


def test_save_grid_inside_the_dataset_scored_is_refused_before_the_work(tiny, workdir, capsys):
    """`--data-dir d --save-grid d/test/circle/mistakes.png` put the grid (and its confusion picture) in the
    test split: the next scoring counted one image more, and train.py would train on it (until 2026-11-28,
    a helper). Refused wherever it lands in the dataset: a link to a folder of it counts, and so does the
    dataset a checkpoint names when --data-dir is not given."""
    torch.save({"model": Tudui(3).state_dict(), "classes": CLASSES, "config": {"data_dir": tiny}}, "r.pth")
    os.symlink(os.path.join(tiny, "test", "cross"), "cross")
    before = sorted(glob.glob(f"{tiny}/**", recursive=True))
    given = ["--data-dir", tiny]
    for argv, grid, split in [(given, f"{tiny}/test/circle/mistakes.png", "test"), (given, "cross/g.png", "test"),
                              ([], f"{tiny}/train/stripes/g.jpg", "train")]:  # (the last: the dataset r.pth names)
        code, out, err = run_cli(predict, ["r.pth", *argv, "--save-grid", grid], capsys)
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert f"error: argument --save-grid: {grid} lies inside {tiny}/{split}, a split of the dataset, where it " \
            "would become one of its images; save the picture elsewhere" in err, err
        assert sorted(glob.glob(f"{tiny}/**", recursive=True)) == before
    os.mkdir(f"{tiny}/test_grids")  # a folder beside the splits, whose name starts as one's
    for grid in (f"{tiny}/test_grids/g.png", f"{tiny}/g.png"):  # (files beside the splits are no images of theirs)
        code, out, err = run_cli(predict, ["r.pth", "--json", "--save-grid", grid], capsys)
        assert code == 0 and json.loads(out)["images"] == 12 and os.path.isfile(grid[:-4] + "_confusion.png"), err


def test_an_output_in_a_folder_that_cannot_be_written_is_refused_before_the_work(checkpoint, workdir, capsys,
                                                                                   monkeypatch):
    """A read-only folder for --save-grid (or bench.py's --json) was found after all the work, the results
    never printed (until 2026-11-28, a helper). (Root may write in a folder whatever its mode: os.access
    says no here, as it does for a read-only file system or another user's folder.)"""
    Image.new("RGB", (32, 32)).save("x.png")
    os.mkdir("ro")
    real_access = os.access
    monkeypatch.setattr(cli.os, "access", lambda path, mode: (path not in ("ro", "/dev") or not mode & os.W_OK)
                        and real_access(path, mode))  # (readable: a read-only file system is)
    code, out, err = run_cli(predict, [checkpoint, "x.png", "--save-grid", "ro/g.png"], capsys)
    assert code == 2 and out == "" and "error: argument --save-grid: cannot write in folder ro (see" in err, err
    code, out, err = run_cli(bench, ["--json", "ro/b.json"], capsys)
    assert code == 2 and out == "" and "error: argument --json: cannot write in folder ro (see" in err, err
    code, out, err = run_cli(predict, [checkpoint, "x.png", "--save-grid", "/dev/null"], capsys)
    assert code == 0, err  # (a stream is written as it is: its folder need not be writable)


def test_save_grid_writes_the_format_its_name_asks_for_or_says_why_not(checkpoint, workdir, capsys, monkeypatch):
    Image.new("RGB", (32, 32)).save("x.png")
    # No extension: PNG, not "unknown file extension"; an upper-case one (Windows' GRID.JPG) as a lower-case one.
    for name, fmt in [("grid", "PNG"), ("grid.jpg", "JPEG"), ("grid.PNG", "PNG"), ("grid.JPG", "JPEG")]:
        code, _, err = run_cli(predict, [checkpoint, "x.png", "--save-grid", name], capsys)
        assert code == 0, err
        with Image.open(name) as picture:
            assert picture.format == fmt
    code, out, err = run_cli(predict, [checkpoint, "x.png", "--save-grid", "grid.xyz"], capsys)
    assert code == 2 and "--save-grid" in err and out == "" and len(err.strip().splitlines()) == 1
    os.mkdir("taken")
    # Before any work, naming the flag (until 2026-11-26 15:06 UTC: exit 1 after the evaluation, and
    # "Not a directory" for "taken/"):
    for name, message in [("taken", "must name a file, got 'taken'"), ("taken/", "must name a file, got 'taken/'"),
                          ("missing/grid.png", "folder missing does not exist"), ("", "must name a file, got ''"),
                          ("x.png/grid.png", "x.png is not a folder")]:
        code, out, err = run_cli(predict, [checkpoint, "x.png", "--save-grid", name], capsys)
        assert code == 2 and out == "" and err.count("\n") == 1
        assert f"error: argument --save-grid: {message} (see" in err
    # On the test split, the confusion matrix's name beside it too (until 2026-11-27 one that was too long
    # failed after the whole evaluation, exit 1, the report never printed; a helper's review). 249 bytes
    # (245 g's and .png): the grid's own name fits, its _confusion one (259) does not.
    code, out, err = run_cli(predict, [checkpoint, "--data-dir", "nowhere", "--save-grid", "g" * 245 + ".png"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "argument --save-grid: file name too long" in err, err
    # Formats Pillow lists but cannot write an RGB picture in (MSP, XBM), or without a plug-in (HDF5): refused
    # before any work (until 2026-11-27: exit 1 after it, the predictions never printed; a helper).
    for ext in ("msp", "xbm", "h5"):
        code, out, err = run_cli(predict, [checkpoint, "x.png", "--save-grid", f"grid.{ext}"], capsys)
        assert code == 2 and out == "" and err.count("\n") == 1
        assert f"argument --save-grid: cannot write pictures as '.{ext}' files" in err
    # A writer that fails on the picture itself, after the work: one line, exit 1, no partial file.
    def refuse(picture, *_, **__):
        if picture.size != (2, 2):  # (--save-grid's check when the command starts writes a 2×2 picture)
            raise ValueError("Unsupported mode")
    monkeypatch.setattr(Image.Image, "save", refuse)
    code, _, err = run_cli(predict, [checkpoint, "x.png", "--save-grid", "grid.blp"], capsys)
    assert code == 1 and "could not write grid.blp: Unsupported mode" in err and len(err.strip().splitlines()) == 1
    assert not [f for f in os.listdir() if f.startswith((".tmp-", "grid.msp", "grid.xbm", "grid.h5", "grid.blp"))]


def test_a_file_name_of_255_bytes_is_taken_and_one_of_256_refused_as_the_command_starts(workdir):
    """255 bytes is the longest name Linux's file systems take: a limit one byte off let a name
    of 256 through, to fail with exit 1 after all the work (a helper's mutants, 2026-11-28)."""
    assert cli.output_file("a" * 251 + ".png")
    with pytest.raises(argparse.ArgumentTypeError, match="file name too long"):
        cli.output_file("a" * 252 + ".png")


def test_a_run_directory_without_last_pth_names_the_checkpoints_it_has(checkpoint, workdir, capsys):
    os.makedirs("logs_train/r/checkpoints")  # a run stopped in its first epoch
    shutil.copy(checkpoint, "logs_train/r/checkpoints/interrupt.pth")
    code, _, err = run_cli(predict, ["logs_train/r"], capsys)
    assert code == 2 and "no last.pth" in err and "interrupt.pth" in err and len(err.strip().splitlines()) == 1
    # A copy of checkpoints, as --resume names them: paths to paste, quoted, not macOS's ._ files (until
    # 2026-11-27: "my copy has no last.pth; name one of its checkpoints: ._epoch_001.pth, epoch_001.pth", a helper).
    os.makedirs("my copy")
    for name in ("epoch_001.pth", "._epoch_001.pth", "epoch_002.pth"):
        shutil.copy(checkpoint, os.path.join("my copy", name))
    code, _, err = run_cli(predict, ["my copy"], capsys)
    assert code == 2 and err == "test.py: error: my copy has no last.pth; name one of its checkpoints: " \
                                "'my copy/epoch_001.pth', 'my copy/epoch_002.pth'\n", err
    shutil.copy(checkpoint, "my copy/epoch_003.pth")  # three: all named, no "…"
    code, _, err = run_cli(predict, ["my copy"], capsys)
    assert err.endswith("'my copy/epoch_002.pth', 'my copy/epoch_003.pth'\n"), err
    # last.pth a link that leads nowhere was offered as a checkpoint to name (until 2026-11-28, a helper's probe).
    os.symlink("moved.pth", "my copy/last.pth")
    code, _, err = run_cli(predict, ["my copy"], capsys)
    assert code == 2 and err == "test.py: error: my copy/last.pth is a link to moved.pth, which leads to no file; " \
                                "name one of its checkpoints: 'my copy/epoch_001.pth', 'my copy/epoch_002.pth', " \
                                "'my copy/epoch_003.pth'\n", err


def test_the_log_folder_or_an_empty_one_given_as_a_checkpoint_says_what_to_name(checkpoint, workdir, capsys):
    for run in ("a", "b"):
        os.makedirs(f"logs_train/{run}/checkpoints")
        shutil.copy(checkpoint, f"logs_train/{run}/checkpoints/last.pth")
    os.makedirs("empty")
    for module in (predict, train):  # test.py, and train.py's --resume
        argv = (lambda path: [path]) if module is predict else (lambda path: ["--resume", path])
        code, _, err = run_cli(module, argv("logs_train"), capsys)
        assert code == 2 and "logs_train holds runs, not a checkpoint; name one: logs_train/a, logs_train/b" in err
        code, _, err = run_cli(module, argv("empty"), capsys)
        assert code == 2 and "no checkpoint in empty (a run folder holds checkpoints/last.pth)" in err
        assert len(err.strip().splitlines()) == 1


def test_flags_may_come_before_between_or_after_the_images(checkpoint, workdir, capsys):
    for name, colour in (("a.png", "red"), ("b.png", "blue")):
        Image.new("RGB", (32, 32), colour).save(name)
    code, out, err = run_cli(predict, [checkpoint, "--topk", "2", "a.png", "--json", "b.png"], capsys)
    assert code == 0, err
    assert [(r["image"], len(r["predictions"])) for r in json.loads(out)] == [("a.png", 2), ("b.png", 2)]
    code, _, err = run_cli(predict, [], capsys)
    assert code == 2 and "required: checkpoint (" in err  # the images are optional and not named as required


def test_an_image_given_as_the_checkpoint_is_named_as_such(checkpoint, workdir, capsys):
    Image.new("RGB", (32, 32)).save("dog.png")
    code, _, err = run_cli(predict, ["dog.png", checkpoint], capsys)  # the arguments swapped
    assert code == 2 and "dog.png is an image, not a checkpoint" in err and len(err.strip().splitlines()) == 1


def test_bad_flags_exit_2(checkpoint, workdir, capsys):
    """With an image given: without one, --topk 0 let through would still end in exit 2, for the test
    split's missing data (a helper found it)."""
    Image.new("RGB", (32, 32)).save("x.png")
    for argv, flag in (([checkpoint, "x.png", "--topk", "0"], "--topk"),
                       ([checkpoint, "x.png", "--device", "tpu"], "--device"), ([], "checkpoint")):
        code, out, err = run_cli(predict, argv, capsys)
        assert code == 2 and out == "" and flag in err and len(err.strip().splitlines()) == 1, err


def test_a_test_split_of_one_class_is_refused_before_it_is_decoded(tiny, workdir, capsys):
    """A training split beside it makes a missing class a difference between the two; test.py reads
    the test split alone."""
    torch.save({"model": Tudui(len(CLASSES)).state_dict(), "classes": CLASSES}, workdir / "net.pth")
    for name in CLASSES[1:]:
        shutil.rmtree(os.path.join(tiny, "test", name))
    code, _, err = run_cli(predict, [str(workdir / "net.pth"), "--data-dir", tiny], capsys)
    assert code == 2 and err == f"test.py: error: {tiny}/test holds 1 class folder(s) ({CLASSES[0]}); a classifier " \
                                f"needs two or more (expected {tiny}/test/<class>/<images>)\n", err


def test_a_flag_of_the_other_use_is_refused_not_ignored(checkpoint, workdir, capsys):
    """--topk serves images, --data-dir and --num-workers the test split: each was ignored by the other
    (until 2026-11-27 00:10 UTC; --num-workers until 21:15 UTC)."""
    Image.new("RGB", (32, 32)).save("dog.png")
    for argv, message in (([checkpoint, "--topk", "3"], "--topk is for images"),
                          ([checkpoint, "dog.png", "--data-dir", "data"], "with images given it is not used"),
                          ([checkpoint, "dog.png", "--num-workers", "0"], "images given are read in this process")):
        code, out, err = run_cli(predict, argv, capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and not out


def test_ctrl_c_is_one_line_and_exit_130(checkpoint, workdir, capsys, monkeypatch):
    """It was a traceback (until 2026-11-26 12:50 UTC), and the exit a signal's."""
    Image.new("RGB", (32, 32)).save(workdir / "a.png")

    def interrupted(path):
        raise KeyboardInterrupt
    monkeypatch.setattr(predict, "load_image", interrupted)
    code, out, err = run_cli(predict, [checkpoint, str(workdir / "a.png")], capsys)
    assert code == 130 and err == "test.py: interrupted\n" and out == ""


@pytest.mark.parametrize("signum, how, exit_code", [(signal.SIGINT, "interrupted", 130),
                                                    (signal.SIGTERM, "terminated", 143)])
def test_ctrl_c_or_kill_inside_run_is_test_pys_own_whatever_handler_the_program_had(
        checkpoint, workdir, capsys, monkeypatch, signum, how, exit_code):
    """interrupt.taken_over(): within run(), Ctrl-C is a KeyboardInterrupt (one line, exit 130), also in a
    program whose own handler would let it go on; after run(), that handler is back. SIGTERM (`kill`,
    `timeout`) unwinds as Ctrl-C does, exit 143, removing what is half written (until 2026-11-28 22:30 UTC it
    ended the process at once, as it did bench.py, whose temporary cache of the dataset it left behind)."""
    Image.new("RGB", (32, 32)).save(workdir / "a.png")
    called, hangup_within = [], []

    def mine(*_):
        called.append(1)
    previous = signal.signal(signum, mine)
    # Started by nohup (SIGHUP ignored), which must stay so; or not, where a closed terminal ends it as SIGTERM.
    nohup = signum == signal.SIGINT
    previous_hangup = signal.signal(signal.SIGHUP, signal.SIG_IGN if nohup else signal.SIG_DFL)
    try:
        load_image = predict.load_image

        def pressed(path):
            hangup_within.append(signal.getsignal(signal.SIGHUP))
            os.kill(os.getpid(), signum)  # (Python runs the handler before the next line)
            return load_image(path)
        monkeypatch.setattr(predict, "load_image", pressed)
        code, out, err = run_cli(predict, [checkpoint, str(workdir / "a.png")], capsys)
        assert code == exit_code and err == f"test.py: {how}\n" and out == "" and not called
        assert signal.getsignal(signum) is mine
        assert hangup_within[0] is signal.SIG_IGN if nohup else callable(hangup_within[0])
    finally:
        signal.signal(signum, previous)
        signal.signal(signal.SIGHUP, previous_hangup)


def test_a_closed_terminal_ends_test_py_and_bench_py_in_one_line_that_goes_nowhere(capsys, monkeypatch):
    """SIGHUP (their unwind_on_termination): `hung up`, exit 129, as if the signal had killed it, written
    where the terminal has gone to /dev/null (quiet_terminal, not called here: it would silence pytest's)."""
    quieted = []
    monkeypatch.setattr(interrupt, "quiet_terminal", lambda: quieted.append(1))
    with pytest.raises(SystemExit) as stop:
        interrupt.stopped("bench.py", interrupt.Terminated(signal.SIGHUP))
    assert stop.value.code == 129 and capsys.readouterr().err == "bench.py: hung up\n" and quieted == [1]


@pytest.mark.parametrize("on", ["images", "test split"])
def test_save_grid_onto_a_pipe_or_device_writes_there_and_leaves_it_in_place(tiny, workdir, capsys, on):
    """`--save-grid /dev/stdout`: the picture was renamed over the device (until 2026-11-26 12:50
    UTC), and on the test split a stray pipe_confusion file was made beside it (until 13:35 UTC)."""
    torch.save({"model": Tudui(len(CLASSES)).state_dict(), "classes": CLASSES}, workdir / "net.pth")
    os.mkfifo(workdir / "pipe")
    received = []
    reader = threading.Thread(target=lambda: received.append(open(workdir / "pipe", "rb").read()))
    reader.start()
    inputs = [f"{tiny}/test/circle/000.png"] if on == "images" else ["--data-dir", tiny]
    code, _, err = run_cli(predict, [str(workdir / "net.pth"), *inputs, "--save-grid", str(workdir / "pipe")], capsys)
    reader.join(timeout=10)
    assert code == 0, err
    assert received[0].startswith(b"\x89PNG") and stat.S_ISFIFO(os.stat(workdir / "pipe").st_mode)
    assert not [name for name in os.listdir(workdir) if name.startswith("pipe_")]


def test_a_pipe_in_a_folder_is_left_out_and_one_named_alone_is_read(checkpoint, tiny, workdir, capsys):
    """A folder's pipe named like an image waited for a writer for ever (until 2026-11-27); one named
    on the command line is what `<(curl …)` gives, and is read."""
    folder = workdir / "photos"
    folder.mkdir()
    shutil.copy(f"{tiny}/test/circle/000.png", folder / "a.png")
    os.mkfifo(folder / "b.png")
    with within(60):
        code, out, err = run_cli(predict, [checkpoint, str(folder)], capsys)
    assert code == 0 and "a.png:" in out and "b.png" not in out and "note: left out 1 file(s) in " in err
    os.mkfifo(workdir / "stream")
    writer = threading.Thread(target=lambda: open(workdir / "stream", "wb").write(open(folder / "a.png", "rb").read()))
    writer.start()
    with within(60):
        code, out, _ = run_cli(predict, [checkpoint, str(workdir / "stream")], capsys)
    writer.join(timeout=10)
    assert code == 0 and out.startswith(f"{workdir / 'stream'}: c")


def test_an_image_whose_name_is_not_utf8_is_printed_with_a_replacement_character(checkpoint, workdir, capsys):
    """Printed as it was, it was a UnicodeEncodeError wherever stdout is strict UTF-8 (until 2026-11-26 13:35 UTC)."""
    Image.new("RGB", (32, 32)).save(workdir / "cafe.png")
    os.rename(workdir / "cafe.png", os.path.join(workdir, os.fsdecode(b"caf\xe9.png")))
    code, out, err = run_cli(predict, [checkpoint, str(workdir)], capsys)
    assert code == 0 and out.startswith(f"{workdir}/caf\ufffd.png: "), err


@pytest.mark.parametrize("on", ["images", "test split"])
def test_save_grid_to_stdout_redirected_to_a_file_keeps_lines_and_picture_whole(tiny, workdir, on):
    """`--save-grid /dev/stdout > x.png`: opened again, stdout got a second offset and the report
    printed after the picture overwrote its header (2026-11-26 13:35-14:00 UTC); before, the
    rename replaced x.png and the printed lines were lost. A link of its own plays /dev/stdout,
    so that a regression cannot replace the machine's."""
    torch.save({"model": Tudui(len(CLASSES)).state_dict(), "classes": CLASSES}, workdir / "net.pth")
    os.symlink("/proc/self/fd/1", workdir / "stdout")
    inputs = [f"{tiny}/test/circle/000.png"] if on == "images" else ["--data-dir", tiny]
    with open(workdir / "out.bin", "wb") as out:
        done = subprocess.run([sys.executable, os.path.join(ROOT, "test.py"), str(workdir / "net.pth"), *inputs,
                               "--save-grid", str(workdir / "stdout")], stdout=out, stderr=subprocess.PIPE,
                              timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    content = (workdir / "out.bin").read_bytes()
    start = content.index(b"\x89PNG")
    Image.open(io.BytesIO(content[start:])).load()  # the picture whole, its header first
    assert (b"000.png: " if on == "images" else b"test accuracy") in content and os.path.islink(workdir / "stdout")


def test_a_name_the_outputs_encoding_cannot_write_is_escaped_not_a_traceback(checkpoint, workdir):
    """猫.png printed into a file on Windows (cp1252), or under PYTHONIOENCODING=latin-1: a UnicodeEncodeError
    traceback (until 2026-11-28, a helper)."""
    Image.new("RGB", (32, 32)).save(workdir / "猫.png")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "test.py"), checkpoint, "猫.png"], capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONIOENCODING": "latin-1"})
    assert done.returncode == 0 and done.stdout.startswith(b"\\u732b.png: "), done.stderr[-2000:]


def test_a_stdout_that_cannot_be_reconfigured_is_left_as_it_is(monkeypatch):
    """A notebook's stdout, under `%run test.py`, has no reconfigure(): an AttributeError before anything ran
    (07:34-08:35 UTC on 2026-11-28, found by rereading the change)."""
    class NotebookStdout(io.TextIOBase):
        def write(self, text):
            return len(text)
    monkeypatch.setattr(sys, "stdout", NotebookStdout())
    ran, ctrl_c = [], signal.getsignal(signal.SIGINT)
    try:
        interrupt.run_as_script(lambda: ran.append(True))
    finally:
        signal.signal(signal.SIGINT, ctrl_c)  # (run_as_script leaves a quiet Ctrl-C for the exit)
    assert ran == [True]


CLASSIFY_AND_LIST_IMPORTS = """
import sys
sys.path.insert(0, {root!r})
import test
try:
    test.run(sys.argv[1:])
finally:
    print(sorted(name for name in sys.modules if name.split(".")[0] in ("torchvision", "torch._dynamo")))
"""


def test_classifying_images_does_not_wait_for_torchvision_to_load(checkpoint, workdir):
    """`python test.py CHECKPOINT dog.png` took 5.3-6.1 s on a 2-core VM, 3.5-3.9 s without importing
    torchvision (and torch._dynamo, which it imports), needed for CIFAR-10 alone (2026-11-28)."""
    Image.new("RGB", (32, 32)).save(workdir / "dog.png")
    done = subprocess.run([sys.executable, "-c", CLASSIFY_AND_LIST_IMPORTS.format(root=ROOT), checkpoint,
                           str(workdir / "dog.png")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "dog.png: " in done.stdout, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "[]", done.stdout


def test_the_confusion_picture_stays_small_for_many_classes_and_the_table_keeps_long_names(capsys):
    """300 classes made a picture of 13,286 pixels a side (530 MB, 7.5 GB to log it); the table cut
    names to 6 characters (american_bulldog, american_pit_bull_terrier: "americ" twice)."""
    for n in (3, 300, 1000):
        assert max(pictures.confusion_image(torch.eye(n, dtype=torch.long), [f"c{i}" for i in range(n)]).shape) < 1900
    confusion = torch.tensor([[3, 1], [0, 4]])
    picture = pictures.confusion_image(confusion, ["a", "b"])
    margin, cell = 84, 44  # a cell's colour, off its text: blue for right, red for wrong by the row's share
    assert picture[margin + 40, margin + 40].tolist() == [63, 63, 255]
    assert picture[margin + 40, margin + cell + 40].tolist() == [255, 191, 191]
    names = ["american_bulldog", "american_pit_bull_terrier"]
    predict.print_evaluation({"data_dir": "d", "classes": names, "accuracy": 0.875, "correct": 7, "images": 8,
                              "loss": 0.5, "per_class_accuracy": [0.75, 1.0], "confusion_matrix": confusion.tolist()})
    out = capsys.readouterr().out.splitlines()
    assert out[-3].split() == ["0", "1"]
    assert out[-2].split() == ["0", "american_bulldog", "3", "1"]
    assert out[-1].split() == ["1", "american_pit_bull_terrier", "0", "4"]
    # Chinese names take two columns a character, café as macOS writes it four: the numbers stay in line
    # (shifted one column a character until 2026-11-27, a helper's walkthrough).
    predict.print_evaluation({"data_dir": "d", "classes": ["猫", "cafe\u0301", "dog"], "accuracy": 0.5, "correct": 4,
                              "images": 8, "loss": 0.5, "per_class_accuracy": [0.5, 0.5, None],
                              "confusion_matrix": [[1, 1, 0], [1, 1, 0], [0, 0, 0]]})
    out = capsys.readouterr().out.splitlines()
    assert out[3:6] == ["  猫    0.5000", "  cafe\u0301  0.5000", "  dog   no image of it could be read"]
    assert out[-3:] == ["0 猫      1  1  0", "1 cafe\u0301    1  1  0", "2 dog     0  0  0"]


def test_readmes_lines_for_ones_own_code_predict_what_test_py_predicts(tiny, capsys):
    """A checkpoint's network expects normalized, whitened inputs; README shows the lines that give
    them, and these are they."""
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "r", "--epochs", "1", "--lr", "0.01",
                                   *TRAIN_FAST], capsys)
    assert code == 0, err
    image = os.path.join(tiny, "test", "cross", "000.png")
    code, out, err = run_cli(predict, ["logs_train/r", image, "--json"], capsys)
    assert code == 0, err
    expected = json.loads(out)[0]["predictions"][0]
    readme = open(os.path.join(ROOT, "README.md")).read().split("**A checkpoint in your own code.**")[1]
    block = readme.split("\n    import torch\n", 1)[1].split("\n\n**")[0]  # the indented lines, to the next part
    code = "import torch\n" + "\n".join(line[4:] for line in block.splitlines())
    code = code.replace("logs_train/<run>/checkpoints/last.pth", "logs_train/r/checkpoints/last.pth")
    names = {}
    exec(compile(code.replace('"dog.png"', repr(image)), "README.md", "exec"), names)
    assert capsys.readouterr().out.strip() == expected["class"]
    assert names["logits"].softmax(1).max().item() == pytest.approx(expected["probability"], abs=5e-5)


def test_a_streamed_test_split_reports_the_images_it_scored(tiny, workdir, capsys, monkeypatch):
    """An unreadable image in a streamed test split is left out of the score: "correct/images" and
    the accuracy must describe the same images (the report said 12 images for 11 scored)."""
    torch.manual_seed(0)
    torch.save({"model": Tudui(len(CLASSES)).state_dict(), "classes": CLASSES}, workdir / "net.pth")
    monkeypatch.setattr(data, "MEMORY_LIMIT_BYTES", 0)  # streamed, as a test split of over 2 GiB decoded
    with open(os.path.join(tiny, "test", "circle", "000.png"), "wb") as f:
        f.write(b"not an image")
    code, out, err = run_cli(predict, [str(workdir / "net.pth"), "--data-dir", tiny, "--num-workers", "0", "--json"],
                             capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["images"] == 11 == sum(map(sum, report["confusion_matrix"]))
    assert report["accuracy"] == pytest.approx(report["correct"] / report["images"])


def test_json_output_names_unreadable_images_in_the_json_and_on_stderr(checkpoint, workdir, capsys):
    """`test.py CKPT *.png --json > out.json` exits 1 for an unreadable image: the reason must be on
    the terminal too, not only inside the redirected JSON; each entry holds an error or predictions."""
    Image.new("RGB", (32, 32)).save("good.png")
    with open("bad.png", "wb") as f:
        f.write(b"not an image")
    code, out, err = run_cli(predict, [checkpoint, "good.png", "bad.png", "--json"], capsys)
    assert code == 1
    good, bad = json.loads(out)
    assert good["image"] == "good.png" and "error" not in good and len(good["predictions"]) == 1
    assert bad["image"] == "bad.png" and "predictions" not in bad and bad["error"]
    assert err.strip().splitlines() == [f"test.py: error: bad.png: {bad['error']}"]


def test_a_class_none_of_whose_test_images_could_be_read_has_no_accuracy_not_zero(tiny, capsys, monkeypatch):
    """Streamed, unreadable images are found only as they are read: a class left with none was
    reported at 0.0000 in test.py and in TensorBoard, as if the network had got each one wrong
    (until 2026-11-27, a session's list of what was left)."""
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "r", "--epochs", "1", *TRAIN_FAST], capsys)
    assert code == 0, err
    for path in glob.glob(os.path.join(tiny, "test", "cross", "*.png")):
        with open(path, "wb") as f:
            f.write(b"not a png")
    monkeypatch.setattr(data, "MEMORY_LIMIT_BYTES", 0)
    code, out, err = run_cli(predict, ["logs_train/r"], capsys)
    assert code == 0 and "unreadable" in err, err
    assert [line.split(maxsplit=1) for line in out.splitlines()[3:6]][1] == ["cross", "no image of it could be read"]
    code, out, err = run_cli(predict, ["logs_train/r", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["per_class_accuracy"][1] is None and report["confusion_matrix"][1] == [0, 0, 0]
    assert all(0 <= report["per_class_accuracy"][i] <= 1 for i in (0, 2))


@pytest.mark.parametrize("streamed_by", [["--data-path", "stream"], []])
def test_a_streamed_run_is_scored_as_it_scored_itself_though_a_class_has_no_readable_test_image(tiny, capsys,
                                                                                               monkeypatch,
                                                                                               streamed_by):
    """A run given --data-path stream scored such a class as unread and printed its test accuracy; test.py
    read the small split into memory and refused the class folder (until 2026-11-28 morning, a helper). So
    did a run streamed by auto, its training split over the limit, its test split under it (until 08:10)."""
    for path in glob.glob(os.path.join(tiny, "test", "cross", "*.png")):
        with open(path, "wb") as f:
            f.write(b"not a png")
    monkeypatch.setattr(data, "MEMORY_LIMIT_BYTES", 50_000)  # the 24 training images over it, the 12 test ones not
    code, _, err = run_cli(train, ["--data-dir", tiny, "--run-name", "r", "--epochs", "1", *TRAIN_FAST,
                                   *streamed_by], capsys)
    assert code == 0 and json.load(open("logs_train/r/config.json"))["data_path"] == "stream", err
    code, out, err = run_cli(predict, ["logs_train/r", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["per_class_accuracy"][1] is None, err
    trained = torch.load("logs_train/r/checkpoints/last.pth", weights_only=True)["metrics"]["test/accuracy"]
    assert report["accuracy"] == trained


def test_a_newline_or_tab_in_a_name_is_shown_quoted_and_keeps_each_line_whole(workdir, capsys):
    """A file, class or folder named with a newline split test.py's lines in two, a tab pushed the table's
    columns (until 2026-11-28, a helper's probe): such a name is shown as Python writes it, quoted. Names with
    other characters that str.isprintable() refuses (a no-break space, the zero-width non-joiner of Persian
    words, an ideographic space) are shown as they are (quoted for a while that day, a review)."""
    classes = ["t\tab", "x\ny", "z"]  # (in sorted order, as the folders list)
    torch.save({"model": Tudui(3).state_dict(), "classes": classes}, "net.pth")
    make_dataset(workdir / "d\n1", n_train=1, n_test=1, classes=classes)
    os.mkdir("photos")
    names = {"bad\nname.png": "'photos/bad\\nname.png'", "café\xa0x.png": "photos/café\xa0x.png",
             "a\u200cb.png": "photos/a\u200cb.png", "写真\u30001.png": "photos/写真\u30001.png"}
    for name in names:
        shutil.copy("d\n1/test/z/000.png", f"photos/{name}")
    code, out, err = run_cli(predict, ["net.pth", "photos", "missing\n.png", "--topk", "3"], capsys)
    lines = out.splitlines()
    assert code == 1 and len(lines) == 4 and {line.rsplit(": ", 1)[0] for line in lines} == set(names.values()), out
    assert {p.rsplit(" ", 1)[0] for p in lines[0].rsplit(": ", 1)[1].split(", ")} == {"'t\\tab'", "'x\\ny'", "z"}
    assert err.splitlines()[-1] == "test.py: error: 'missing\\n.png': no such file", err
    code, out, err = run_cli(predict, ["net.pth", "--data-dir", "d\n1"], capsys)
    lines = out.splitlines()
    assert code == 0 and f"/3 images of the test split in {str(workdir / 'd')!r}"[:-1] + "\\n1'), mean loss " \
        in lines[0], out
    assert [line.split()[0] for line in lines[3:6]] == ["'t\\tab'", "'x\\ny'", "z"], err


def test_the_confusion_tables_columns_are_as_wide_as_its_largest_count(capsys):
    """Not the largest of each row's smallest (a mutant of a review, 2026-11-27, that every test passed)."""
    predict.print_evaluation({"data_dir": "d", "classes": ["a", "b"], "accuracy": 0.99, "correct": 105, "images": 106,
                              "loss": 0.5, "per_class_accuracy": [1.0, 5 / 6], "confusion_matrix": [[100, 0], [1, 5]]})
    assert capsys.readouterr().out.splitlines()[-3:] == ["         0    1", "0 a    100    0", "1 b      1    5"]


def test_the_confusion_pictures_name_is_checked_only_where_it_is_written(tiny, workdir, capsys):
    """Beside a pipe, and with images given, no _confusion picture is written: a name that leaves it no
    room is taken (mutants of a review, 2026-11-27, that every test passed, refused them)."""
    torch.save({"model": Tudui(len(CLASSES)).state_dict(), "classes": CLASSES}, workdir / "net.pth")
    image = f"{tiny}/test/circle/000.png"
    code, _, err = run_cli(predict, ["net.pth", image, "--save-grid", "g" * 246 + ".png"], capsys)
    assert code == 0 and os.path.isfile("g" * 246 + ".png"), err
    os.mkfifo("p" * 250)
    received = []
    reader = threading.Thread(target=lambda: received.append(open("p" * 250, "rb").read()))
    reader.start()
    code, _, err = run_cli(predict, ["net.pth", "--data-dir", tiny, "--save-grid", "p" * 250], capsys)
    reader.join(timeout=5)
    if reader.is_alive():  # refused before the pipe was opened: opened here, so the reader ends
        open("p" * 250, "wb").close()
        reader.join()
    assert code == 0 and received[0].startswith(b"\x89PNG"), err


def test_the_confusion_picture_is_written_in_the_format_its_name_asks_for(tiny, workdir, capsys):
    """FILE_confusion.jpg beside FILE.jpg is a JPEG, not PNG bytes under a .jpg name (the confusion picture
    always written as PNG passed every test)."""
    torch.save({"model": Tudui(len(CLASSES)).state_dict(), "classes": CLASSES}, workdir / "net.pth")
    for name, confusion, fmt in [("g.jpg", "g_confusion.jpg", "JPEG"), ("g.bmp", "g_confusion.bmp", "BMP"),
                                 ("g", "g_confusion", "PNG")]:
        code, _, err = run_cli(predict, ["net.pth", "--data-dir", tiny, "--save-grid", name], capsys)
        assert code == 0, err
        for picture in (name, confusion):
            with Image.open(picture) as saved:
                assert saved.format == fmt, picture


def test_a_subfolder_of_a_folder_of_images_is_not_called_a_file_left_out_for_its_extension(workdir, capsys):
    """The subfolders are said once, as subfolders: counted among the files ignored for their extension
    too (a mutation check's survivor, 'f not in folders' dropped from the ignored files, passed)."""
    torch.save(Tudui().state_dict(), workdir / "sd.pth")
    os.makedirs("pics/sub")
    Image.new("RGB", (32, 32)).save("pics/a.png")
    Image.new("RGB", (32, 32)).save("pics/b.gif")
    Image.new("RGB", (32, 32)).save("pics/sub/c.png")
    code, out, err = run_cli(predict, [str(workdir / "sd.pth"), "pics"], capsys)
    assert code == 0 and out.startswith("pics/a.png") and len(out.splitlines()) == 1
    assert "note: ignored 1 file(s) in pics that are not images by their extension (.gif)" in err, err
    assert "not those in its 1 subfolder(s) (sub)" in err


def test_the_evaluation_table_keeps_its_columns_for_fullwidth_class_names(capsys):
    """Fullwidth letters and digits (Ｄｏｇ, 犬１, as Japanese keyboards type them) take two columns, as
    Chinese characters do (a mutation check's survivor: east_asian_width "W" alone, not "F", passed)."""
    predict.print_evaluation({"data_dir": "d", "classes": ["ｄｏｇ", "cat"], "accuracy": 0.5, "correct": 1,
                              "images": 2, "loss": 0.5, "per_class_accuracy": [1.0, 0.0],
                              "confusion_matrix": [[1, 0], [1, 0]]})
    out = capsys.readouterr().out.splitlines()
    assert out[3:5] == ["  ｄｏｇ  1.0000", "  cat     0.0000"]
    assert out[-2:] == ["0 ｄｏｇ    1  0", "1 cat       1  0"]


def test_a_dataset_whose_train_split_links_to_its_test_split_is_still_scored(tiny, workdir, capsys):
    """DIR/train a link to DIR/test (a dataset shipped with its test split alone): training refuses it, but
    test.py, which reads the test split alone, refused to score it too (a helper's mutant, 2026-11-28, that
    every test passed)."""
    shutil.rmtree(os.path.join(tiny, "train"))
    os.symlink("test", os.path.join(tiny, "train"))
    torch.save({"model": Tudui(3).state_dict(), "classes": CLASSES}, "r.pth")
    code, out, err = run_cli(predict, ["r.pth", "--data-dir", tiny], capsys)
    assert code == 0 and "test accuracy" in out, err


def test_the_confusion_tables_column_numbers_stay_apart_for_over_a_hundred_classes(capsys):
    """101 classes of few images: the columns were sized by the largest count alone, and the header's
    numbers ran together ("99100") (a helper's mutant, 2026-11-28, that every test passed)."""
    n = 101
    predict.print_evaluation({"data_dir": "d", "classes": [f"c{i}" for i in range(n)], "accuracy": 1.0, "correct": n,
                              "images": n, "loss": 0.1, "per_class_accuracy": [1.0] * n,
                              "confusion_matrix": torch.eye(n, dtype=torch.long).tolist()})
    out = capsys.readouterr().out.splitlines()
    assert out[-n - 1].split() == [str(i) for i in range(n)]


def test_json_names_the_checkpoint_file_a_run_folder_gave(tiny, workdir, capsys):
    """`test.py runs/r --json` scores runs/r/checkpoints/last.pth: the report named the folder given, not the
    file scored (a helper's mutant, 2026-11-28, that every test passed)."""
    os.makedirs(os.path.join("runs", "r", "checkpoints"))
    torch.save({"model": Tudui(3).state_dict(), "classes": CLASSES},
               os.path.join("runs", "r", "checkpoints", "last.pth"))
    code, out, err = run_cli(predict, [os.path.join("runs", "r"), "--data-dir", tiny, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["checkpoint"] == os.path.join("runs", "r", "checkpoints", "last.pth")


def test_a_confusion_picture_of_more_classes_than_its_size_gives_each_one_pixel():
    """More classes than the picture's size: cells of 0 pixels, and no picture at all (a helper's
    mutant, 2026-11-28, that every test passed)."""
    n = 60
    picture = pictures.confusion_image(torch.eye(n, dtype=torch.long), [f"c{i}" for i in range(n)], size=50)
    margin = 36
    assert picture.shape == (margin + n + 2, margin + n + 2, 3)
    assert picture[margin + 5, margin + 5].tolist() == [0, 0, 255]  # the diagonal, a pixel a class
