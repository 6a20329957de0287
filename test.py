"""Use a trained checkpoint: classify images, or score it on the test split.

    python test.py CHECKPOINT dog.png airplane.png   # class and probability of each image
    python test.py CHECKPOINT                        # accuracy, per class, confusion matrix

CHECKPOINT is a .pth file (this project's, or the tutorial's own whole-model
pickles such as tudui_9.pth) or a run directory (its last checkpoint). Nothing
in it is executed: it is read with torch.load(weights_only=True).
"""
import interrupt  # before all else: Ctrl-C while torch loads is one line

import argparse
import io
import json
import math
import os
import sys
import unicodedata

import torch
from PIL import Image

import pictures
from checkpoint import atomic_write, is_stream, load_model, read_checkpoint
from cli import Parser, checked, errors_in_one_line, folder_path, keep_others_file, output_file
from data import (IMAGE_SIZE, BadImage, UserError, class_difference, has_image_extension, is_hidden, is_special,
                  list_folder, load_dataset, load_image, printable, say, split_holding, warn_ignored)
from train import DEFAULTS, EVAL_BATCH, MAX_WORKERS, evaluate, logits_of, pick_device, prepare

GRID_IMAGES = 64  # --save-grid draws at most this many: a whole folder would make a picture of gigabytes
MISTAKES_SHOWN = 32  # on the test split, --save-grid draws its most confident mistakes, at most this many
# What --save-grid's pictures say they are, in EXIF's Software tag (where the format has EXIF: PNG, JPEG, WebP,
# TIFF): a rerun replaces its own picture, and no other file.
EXIF_SOFTWARE, MADE_BY = 0x0131, "test.py --save-grid"
DRAWN_HERE = "a picture whose EXIF says test.py drew it"


def picture_format(path):
    """The format Pillow writes for the file's extension (none: PNG); None for an extension it does not know."""
    ext = os.path.splitext(path)[1].lower()
    formats = Image.registered_extensions()  # also loads the writers into Image.SAVE
    return formats.get(ext) if ext else "PNG"


def picture_file(path):
    """An argparse type: a file name whose extension PIL can write (none: PNG)."""
    try:  # some writers take no RGB (.xbm, .msp) or need a plug-in (.h5, .wmf): known now, not after the work
        Image.new("RGB", (2, 2)).save(io.BytesIO(), format=picture_format(path))
    except (KeyError, OSError, ValueError):  # (KeyError: no writer)
        ext = os.path.splitext(path)[1].lower()
        raise argparse.ArgumentTypeError(f"cannot write pictures as {ext!r} files; name a .png, .jpg or the like")
    return output_file(path)


def parse_args(argv=None):
    p = Parser(description="Classify images with a checkpoint, or evaluate it on the test split.")
    p.add_argument("checkpoint", help="a .pth checkpoint or a run directory")
    p.add_argument("images", nargs="*", default=[],
                   help="image files or folders of images; none: evaluate on the test split")
    p.add_argument("--topk", type=checked(int, above=0), help="classes to show per image (default 1)")
    p.add_argument("--data-dir", type=folder_path,
                   help="dataset for the test split (default: the one the checkpoint was trained on, else data/)")
    p.add_argument("--num-workers", type=checked(int, at_least=0, at_most=MAX_WORKERS),
                   help=f"decoding processes for the test split (default {DEFAULTS['num_workers']})")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="cpu",
                   help="(default cpu, which every machine has and a few images need no more than; auto for a GPU)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--save-grid", metavar="FILE.png", type=picture_file,
                   help=f"save the images (the first {GRID_IMAGES}) with their predictions as a picture "
                        "(test split: the most confident mistakes, and FILE_confusion.png)")
    args = p.parse_intermixed_args(argv)  # flags may come between the images
    # Each of these serves one of the two uses; given to the other, it would be silently ignored.
    if args.images and args.data_dir:
        p.error("--data-dir names the dataset whose test split is scored; with images given it is not used")
    if args.images and args.num_workers is not None:
        p.error("--num-workers decodes the test split; images given are read in this process")
    if not args.images and args.topk:
        p.error("--topk is for images given after the checkpoint; the test split is scored by accuracy")
    if not args.images and args.save_grid and not is_stream(args.save_grid):
        try:  # the second picture's name, known now too: not after the whole evaluation
            output_file(confusion_file(args.save_grid))
        except argparse.ArgumentTypeError as e:
            p.error(f"argument --save-grid: {e} (the confusion matrix's picture, beside FILE)")
        keep_others_file(p, "--save-grid", confusion_file(args.save_grid), made_by_save_grid, DRAWN_HERE,
                         " (the confusion matrix's picture, beside FILE)")
    if args.save_grid:
        refuse_overwriting_an_image(p, args.save_grid, args.images)
    args.topk = args.topk or 1
    args.num_workers = DEFAULTS["num_workers"] if args.num_workers is None else args.num_workers
    return args


def refuse_overwriting_an_image(parser, grid, images):
    """--save-grid naming one of the images to classify (in a folder given, too), or a file that is not
    a picture test.py drew: a photo, or the first of a glob's matches (--save-grid photos/*.png: the
    shell makes it the picture, the others the images)."""
    folder = os.path.dirname(grid) or "."
    for path in images:
        if os.path.exists(path) and os.path.exists(grid) and (
                os.path.samefile(path, grid) or (os.path.isdir(path) and os.path.samefile(path, folder)
                                                 and has_image_extension(grid))):
            parser.error(f"argument --save-grid: {grid} is one of the images to classify; name another file")
    keep_others_file(parser, "--save-grid", grid, made_by_save_grid, DRAWN_HERE,
                     " (a glob put after --save-grid makes its first match the picture)")


def refuse_a_grid_inside_the_dataset(grid, data_dir):
    """--save-grid's pictures may not lie in a split of the dataset scored: they would be among its images at
    the next scoring, and train.py's. (The confusion matrix's picture goes in the grid's folder: the grid's
    place answers for both.)"""
    split = None if is_stream(grid) else split_holding(grid, data_dir)  # (a stream makes no file)
    if split:
        raise UserError(f"argument --save-grid: {printable(grid)} lies inside {printable(split)}, a split of the "
                        "dataset, where it would become one of its images; save the picture elsewhere")


def made_by_save_grid(path):
    """What a rerun may replace: a picture whose EXIF says test.py drew it."""
    try:
        with Image.open(path) as picture:
            return picture.getexif().get(EXIF_SOFTWARE) == MADE_BY
    except Exception:  # (no image, or one Pillow cannot read: not a picture of ours either way)
        return False


def confusion_file(path):
    """Where --save-grid FILE puts the test split's confusion matrix: FILE_confusion.png for FILE.png."""
    stem, ext = os.path.splitext(path)
    return f"{stem}_confusion{ext}"


def warn_special(special, where):
    if special:
        say(f"note: left out {len(special)} file(s) in {printable(where)} that are named pipes, sockets or devices, "
            f"not image files ({printable(os.path.basename(special[0]))}{', …' if len(special) > 1 else ''})")


def expand(paths):
    """Files as given; a folder stands for the image files directly inside it."""
    out = []
    for path in paths:
        if os.path.isdir(path):
            names = [f for f in list_folder(path) if not is_hidden(f)]
            folders = sorted(f for f in names if os.path.isdir(os.path.join(path, f)))  # (x.jpg/ too)
            inside = sorted(os.path.join(path, f) for f in names if has_image_extension(f) and f not in folders)
            # Left out: opening one waits for a writer (one named alone, as <(curl …) gives it, is read).
            special = [f for f in inside if is_special(f)]
            warn_special(special, path)
            inside = [f for f in inside if f not in special]
            warn_ignored([f for f in names if not has_image_extension(f) and f not in folders], path)  # as training
            if folders and inside:  # (with no image beside them, the folder is reported as unreadable)
                say(f"note: the images directly in {printable(path)} are classified, not those in its "
                    f"{len(folders)} subfolder(s) ({printable(folders[0])}{', …' if len(folders) > 1 else ''})")
            out += inside or [path]  # a folder with no image directly in it: classify() reports it
        else:
            out.append(path)
    return out


def read_images(paths):
    """A result entry for each path, in order, an unreadable one's holding its error; and the readable
    images, stacked (None when there are none)."""
    results, images = [], []
    for path in paths:
        results.append({"image": printable(path)})
        try:
            if os.path.isdir(path):  # expand() leaves a folder only when no image lies directly in it
                raise BadImage("a folder with no images directly in it (to score DIR/test/<class>/ folders: "
                               "test.py CHECKPOINT --data-dir DIR)")
            images.append(load_image(path))
        except BadImage as e:
            results[-1]["error"] = str(e)
    return results, (torch.stack(images) if images else None)


@torch.no_grad()
def classify(model, ckpt, paths, topk, device):
    """Predictions for each path, in order; unreadable ones get an error entry instead.
    Also returns the readable images and their probabilities."""
    results, images = read_images(paths)
    if images is None:
        return results, None, None
    probs = []
    for i in range(0, len(images), EVAL_BATCH):  # one pass over a big folder would need gigabytes of activations
        x = prepare(images[i:i + EVAL_BATCH].to(device), ckpt["normalize"])  # as the checkpoint says, as in training
        probs.append(logits_of(model, x, amp=False).softmax(1).cpu())  # (train.py's forward pass)
    probs = torch.cat(probs)
    check_outputs_finite(probs.isfinite().all(), ckpt)
    top = probs.topk(min(topk, probs.shape[1]), dim=1)
    readable = [r for r in results if "error" not in r]
    for r, p, i in zip(readable, top.values.tolist(), top.indices.tolist()):
        r["predictions"] = [{"class": ckpt["classes"][c], "probability": round(q, 4)} for c, q in zip(i, p)]
    return results, images, probs


def print_predictions(results):
    for r in results:
        if "predictions" in r:
            # The four digits --json holds: three would round twice (0.92254 -> 0.9225 -> 0.922, not 0.923).
            # (one_line: a newline or tab in a name, quoted, keeps each image on a line of its own)
            predictions = ", ".join(f"{one_line(p['class'])} {p['probability']:.4f}" for p in r["predictions"])
            print(f"{one_line(r['image'])}: {predictions}")


def one_line(name):
    """`name` as a line of output shows it: quoted as Python writes it where it holds a newline, a tab or
    another control character, which would split the line or push the table's columns."""
    return repr(name) if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name) else name


def columns(name):
    """The columns a terminal gives `name`: two for a Chinese or Japanese character, none for an
    accent written as a mark of its own (café as macOS writes it)."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in name)


def padded(name, width):
    return name + " " * (width - columns(name))


def print_evaluation(report):
    classes = [one_line(name) for name in report["classes"]]  # (a newline in a name would break the table)
    # Where, in full: a run's data_dir (as it was typed) is looked for from the current folder, which may hold
    # another dataset of that name.
    print(f"test accuracy {report['accuracy']:.4f} ({report['correct']}/{report['images']} images of the test split "
          f"in {one_line(printable(os.path.abspath(report['data_dir'])))}), mean loss {report['loss']:.4f}")
    width = max(map(columns, classes)) + 2
    print("\nper class:")
    for name, acc in zip(classes, report["per_class_accuracy"]):
        print(f"  {padded(name, width)}{'no image of it could be read' if acc is None else f'{acc:.4f}'}")
    # Columns numbered as the rows: names of any length (american_bulldog, american_pit_bull_terrier)
    # stay whole and apart.
    print("\nconfusion matrix (rows: true class; columns: predicted, numbered as the rows):")
    column = len(str(max(len(classes) - 1, max(map(max, report["confusion_matrix"]))))) + 2
    number = len(str(len(classes) - 1))
    print(" " * (number + 1 + width) + "".join(f"{i:>{column}}" for i in range(len(classes))))
    for i, (name, row) in enumerate(zip(classes, report["confusion_matrix"])):
        print(f"{i:>{number}} {padded(name, width)}" + "".join(f"{v:>{column}}" for v in row))


def save_picture(array, path):
    exif = Image.Exif()
    exif[EXIF_SOFTWARE] = MADE_BY  # (formats without EXIF, such as BMP and GIF, leave it out)
    try:
        atomic_write(path, lambda f: Image.fromarray(array).save(f, format=picture_format(path), exif=exif))
    except ValueError as e:  # a writer that refuses the picture itself (picture_file tried only a 2×2 one)
        raise UserError(f"could not write {path}: {e}", code=1) from None


def check_outputs_finite(finite, ckpt):
    """Weights and normalization that are each finite may still overflow in the network: NaN
    predictions, and NaN in --json, which JSON cannot hold."""
    if not finite:
        raise UserError(f"{ckpt['path']} gives outputs that are not finite numbers: its weights or "
                        "normalization are too large or too small to use")


def load_test_split(ckpt, args):
    """(data_dir, test split, class names): --data-dir's test split, else that of the data the checkpoint was
    trained on, else data/'s; refused unless its classes are the checkpoint's (a checkpoint without names
    takes the folder's)."""
    saved = ckpt["config"].get("data_dir")
    saved = saved if isinstance(saved, str) else None  # another program's config may hold anything there
    if saved and not args.data_dir and not os.path.exists(saved):  # trained on another machine, or elsewhere
        raise UserError(f"the checkpoint's data directory {saved} does not exist here: pass --data-dir DIR "
                        "to score its test split, or give images to classify")
    data_dir = args.data_dir or saved or DEFAULTS["data_dir"]
    if args.save_grid:  # before the data loads
        refuse_a_grid_inside_the_dataset(args.save_grid, data_dir)
    # Read as the run read it: streamed, a class none of whose test images can be read is scored without
    # them, where in memory it is refused (the run's own evaluation would not match).
    data_path = ckpt["config"].get("data_path")
    data_path = data_path if data_path in ("memory", "stream") else "auto"
    _, test, classes = load_dataset(data_dir, data_path, args.num_workers, with_train=False)
    if ckpt.get("unnamed"):
        if len(classes) != len(ckpt["classes"]):  # (its class_0, class_1, … are made up here: not worth listing)
            raise UserError(f"{ckpt['path']} holds no class names and its network has {len(ckpt['classes'])} "
                            f"outputs, but {printable(data_dir)} has {len(classes)} classes")
        # A checkpoint without names, trained on an ImageFolder: the same sorted order. Said when those are not
        # the names it would otherwise have: a network trained on CIFAR-10 scored on a folder whose names sort
        # otherwise (plane, car, …) gets a low accuracy, and the note says why.
        if classes != ckpt["classes"]:
            say(f"note: {ckpt['path']} holds no class names: its {len(classes)} outputs are taken as "
                f"{printable(data_dir)}'s classes in sorted order ({first_names(classes)}), "
                f"not as {first_names(ckpt['classes'])}")
        ckpt["classes"] = classes
    if classes != ckpt["classes"]:
        raise UserError(f"{data_dir} has other classes than the checkpoint: "
                        f"{class_difference(classes, ckpt['classes'], data_dir, 'the checkpoint')}")
    return data_dir, test, classes


def first_names(names):
    """The first three of `names`, then … where there are more (three alone are the whole list)."""
    return ", ".join(map(printable, names[:3])) + (", …" if len(names) > 3 else "")


def save_mistakes(result, test, classes, path):
    """--save-grid on the test split: its most confident mistakes in FILE, its confusion matrix in FILE_confusion."""
    conf, pred = result["probs"].max(1)
    labels = test.labels.cpu()[result["index"]]  # (streamed, an unreadable image has no row)
    wrong = (pred != labels).nonzero().squeeze(1)
    worst = wrong[conf[wrong].argsort(descending=True)[:MISTAKES_SHOWN]]
    picks = result["index"][worst]
    if test.images is not None:
        images = test.images[picks]
    elif len(picks):  # streamed: the images shown are read again
        images = torch.stack([load_image(test.files[i]) for i in picks.tolist()])
    else:  # no mistakes: the grid says so
        images = torch.empty(0, 3, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
    save_picture(pictures.image_grid(images, labels[worst], classes, pred[worst], conf[worst]), path)
    if not is_stream(path):  # beside /dev/stdout or a pipe, a second name would be a stray file
        save_picture(pictures.confusion_image(result["confusion"], classes), confusion_file(path))


def evaluate_checkpoint(model, ckpt, args, device):
    """The test split's scores, as print_evaluation and --json show them; --save-grid's pictures saved."""
    data_dir, test, classes = load_test_split(ckpt, args)
    result = evaluate(model, test, ckpt["normalize"], device, len(classes), keep_probs=bool(args.save_grid),
                      num_workers=args.num_workers)
    check_outputs_finite(math.isfinite(result["loss"]), ckpt)
    confusion = result["confusion"]
    report = {"checkpoint": ckpt["path"], "data_dir": data_dir, "classes": classes,
              "accuracy": result["accuracy"], "loss": result["loss"],
              "correct": confusion.trace().item(), "images": confusion.sum().item(),
              "per_class_accuracy": result["per_class_accuracy"],
              "confusion_matrix": confusion.tolist()}
    if args.save_grid:
        save_mistakes(result, test, classes, args.save_grid)
    return report


def note_weights_alone(ckpt):
    """Weights alone get the tutorial's ToTensor() scaling: right for the tutorial's own weights, while a
    train.py network's would score low without a word. Said only once there are results."""
    if ckpt.get("weights_alone"):
        say(f"note: {printable(ckpt['path'])} holds weights alone: images are scaled to [0, 1] as the tutorial's "
            "ToTensor() scales them. A network trained by train.py needs the checkpoint it saved, which records "
            "how its inputs were normalized and whitened")


def main(argv=None):
    args = parse_args(argv)
    device = pick_device(args.device)
    ckpt = read_checkpoint(args.checkpoint)
    model = load_model(ckpt, device).to(memory_format=torch.channels_last).eval()
    if not args.images:
        report = evaluate_checkpoint(model, ckpt, args, device)
        note_weights_alone(ckpt)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_evaluation(report)
        return 0
    paths = expand(args.images)
    results, images, probs = classify(model, ckpt, paths, args.topk, device)
    if images is not None:
        note_weights_alone(ckpt)
    for r in results:
        if "error" in r:
            print(f"test.py: error: {one_line(r['image'])}: {r['error']}", file=sys.stderr)
    if args.save_grid and images is not None:  # first: printing fails when the output's reader has gone (| head)
        conf, pred = probs[:GRID_IMAGES].max(1)
        save_picture(pictures.image_grid(images[:GRID_IMAGES], None, ckpt["classes"], pred, conf), args.save_grid)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_predictions(results)
    return 1 if any("error" in r for r in results) else 0


def run(argv=None):
    """main() with user errors as one line on stderr and an exit code, never a traceback."""
    with interrupt.taken_over(), errors_in_one_line("test.py"):
        status = main(argv)
    sys.exit(status)


if __name__ == "__main__":
    interrupt.run_as_script(run)
