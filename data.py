"""Data for train.py and test.py: images in, uint8 batches out. Defined in the order train.py calls them, each
followed by its helpers: load_dataset(), the statistics normalize() needs, Batches and BatchLoader, normalize().

Every image, from CIFAR-10's arrays or from an image folder, becomes a uint8 tensor (3, 32, 32). Small datasets
are decoded once, cached on disk under data/cache/ and kept in memory (on the GPU when training there), so a batch
is one indexing operation. Datasets too large for memory are streamed through a DataLoader instead. Both paths
yield the same batches in the same order when every image is readable (memory leaves an unreadable one out of the
split, streaming out of its batch); normalization and augmentation are applied afterwards to whole batches.
"""
import atexit
import collections
import contextlib
import functools
import hashlib
import inspect
import math
import multiprocessing
import multiprocessing.resource_tracker
import os
import re
import shlex
import signal
import stat
import sys
import unicodedata
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile, ImageOps
from torch.utils.data import DataLoader, Dataset

import interrupt

IMAGE_SIZE = 32
# The files torchvision's ImageFolder takes as images (its IMG_EXTENSIONS: a test keeps the two the same). Copied,
# not imported: torchvision, only needed for CIFAR-10, takes as long to import as torch itself (1.7 s on a 2-core
# VM), which `python test.py CHECKPOINT dog.png`, and every decoding process started by spawn, would pay.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# Folders without a dot that systems make in a user's: a Synology NAS's thumbnails (@eaDir/, about five for each
# photo, beside it in its class folder) and recycle bins, macOS's resource forks unzipped, Windows' recycle bin.
SYSTEM_FOLDERS = {"@eaDir", "#recycle", "#snapshot", "@Recycle", "__MACOSX", "$RECYCLE.BIN", "$Recycle.Bin",
                  "System Volume Information"}
VAL_FOLDERS = ("val", "valid", "validation")  # made by split-folders and others: train.py reads none
IDENTITY = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}  # normalize() with these: pixels left in [0, 1]
CACHE_DIR = os.path.join("data", "cache")
# In every cache's key: raised when decoding or the cache changes, so older caches are rebuilt (2: EXIF turned
# upright; 3: resized as Resize; 4: skipped files relative to the split; 5: ctimes in the key; 6: 16-bit PGMs)
CACHE_VERSION = 6
MEMORY_LIMIT_BYTES = 2 * 1024**3  # decoded size above which --data-path auto streams
STATS_SAMPLE = 10_000  # images used for normalization statistics on the streaming path
WHITEN_SIZE = 5  # the whitening filter is 5x5 pixels, like the network's first convolution
WHITEN_SAMPLE = 5_000  # images whose 5x5 patches give the whitening filter
WHITEN_EPS = 0.1  # added to the eigenvalues of standardized patches (pixel variance 1; scaled for others)
MAX_JPEG_SCANS = 100  # progressive passes: libjpeg writes 6 for grey, 10 for colour, 18 for CMYK (see load_image)

# Truncated files must fail loudly, not decode half grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


# ---------------------------------------------------------------- errors and messages, for the other modules too
class UserError(Exception):
    """A problem the user can fix: reported as one line, exit code `code`."""

    def __init__(self, message, code=2):
        super().__init__(message)
        self.code = code


def say(message):
    """A note or a warning on stderr, from one process: under torchrun every process loads the data."""
    if interrupt.speaks():
        print(message, file=sys.stderr)


def printable(path):
    """A path as text any terminal or JSON reader takes: bytes that are not UTF-8 become �."""
    return os.fsencode(path).decode(errors="replace")


def shell_word(path):
    """`path` as one word to paste into a shell, never taken for a flag."""
    return shlex.quote(os.path.join(os.curdir, path) if path.startswith("-") else path)


def is_utf8(name):
    """Whether a file name can be written as UTF-8: one from another system (Latin-1, say) is held
    by Python with surrogate characters, which cannot."""
    try:
        name.encode()
        return True
    except UnicodeEncodeError:
        return False


# ---------------------------------------------------------------- a dataset, as train.py and test.py load it
class Split:
    """One split of a dataset. In memory: `images` (N,3,32,32) uint8 and `labels` (and, from an
    image folder, the `files` they were decoded from). Streamed: `files` and `labels`, decoded
    batch by batch, and the split's `folder`, that messages name the files from."""

    def __init__(self, labels, images=None, files=None, folder=None):
        self.labels, self.images, self.files, self.folder = labels, images, files, folder
        self.reported = set()  # streamed files found unreadable and said so: the same fail every epoch

    def __len__(self):
        return len(self.labels)

    def to(self, device):
        """The split with its tensors on `device`. A streamed split stays on the CPU: its
        DataLoader workers read the labels, and a worker process cannot use a GPU's memory."""
        if self.images is None:
            return self
        return Split(self.labels.to(device), self.images.to(device), self.files, self.folder)

    def subset(self, index):
        images = None if self.images is None else self.images[index]
        files = None if self.files is None else [self.files[i] for i in index.tolist()]
        return Split(self.labels[index], images, files, self.folder)


def load_dataset(root, data_path="auto", num_workers=0, download=False, with_train=True):
    """(train split, test split, class names) of the dataset at `root`.

    `root` holds train/<class>/ and test/<class>/ image folders, or CIFAR-10 as
    torchvision stores it (downloaded there when `download` is set)."""
    if os.path.isdir(os.path.join(root, "train")) or os.path.isdir(os.path.join(root, "test")):
        return load_image_folder(root, data_path, num_workers, with_train)
    splits = ("train", "test") if with_train else ("test",)
    if not os.path.exists(root) and not download:  # (a missing one is made for the download)
        raise UserError(f"data directory {root} does not exist.{where_data_goes(splits)}")
    if os.path.exists(root):  # (a file, a folder that cannot be read)
        require_directory(root)
    from torchvision.datasets import CIFAR10  # (here: IMAGE_EXTENSIONS says why)
    cifar_there = os.path.isdir(os.path.join(root, CIFAR10.base_folder)) or \
        os.path.exists(os.path.join(root, CIFAR10.filename))
    if not cifar_there and not download:
        needed = "train/ and test/ image folders" if with_train else "a test/ image folder"
        hint = datasets_inside(root) or val_hint(root) or split_hint(root, splits) or where_data_goes(splits)
        raise UserError(f"{root} holds neither {needed} nor CIFAR-10.{hint}")
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as e:
        raise UserError(f"could not create data directory {root}: {e.strerror or e}", code=1) from None
    return load_cifar10(root, download, with_train)


def load_image_folder(root, data_path, num_workers, with_train):
    """train (None unless `with_train`) and test splits of an image-folder dataset, and its class names.
    --data-path auto: in memory when the split trained on (test.py: tested on) fits in MEMORY_LIMIT_BYTES."""
    classes, train_listed, test_listed = list_splits(root, with_train)
    if data_path == "auto":
        files, _ = train_listed if with_train else test_listed
        data_path = "memory" if len(files) * 3 * IMAGE_SIZE**2 <= MEMORY_LIMIT_BYTES else "stream"

    def load(split, files, labels):
        if data_path == "stream":  # decoded batch by batch, by BatchLoader
            return Split(labels, files=files, folder=os.path.join(root, split))
        return load_folder_split(os.path.join(root, split), files, labels, num_workers)

    train = load("train", *train_listed) if with_train else None
    return train, load("test", *test_listed), classes


def load_cifar10(root, download, with_train=True):
    """CIFAR-10 through torchvision: already an array, so always in memory. An archive put in `root`
    by hand is unpacked there; only with `download` is one fetched."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity
    archive = os.path.join(root, CIFAR10.filename)

    def read_split(train, fetch):
        # fetch: torchvision's download=True, which unpacks an archive whose checksum is CIFAR-10's, and
        # downloads one where there is none (or a damaged one)
        ds = CIFAR10(root, train=train, download=fetch)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N,H,W,C) -> (N,C,H,W)
        return Split(torch.tensor(ds.targets), images=images), ds.classes

    def read_splits(fetch):
        train = read_split(True, fetch)[0] if with_train else None  # (test.py needs the test split alone)
        return (train, *read_split(False, fetch))

    try:
        try:
            return read_splits(download)
        except (OSError, RuntimeError):  # not unpacked, or damaged: an archive placed by hand is unpacked
            if download or not os.path.isfile(archive) or not check_integrity(archive, CIFAR10.tgz_md5):
                raise  # (a damaged one is not handed to torchvision, which would download another)
            return read_splits(True)
    except (OSError, RuntimeError) as e:
        if os.path.isfile(archive) and not check_integrity(archive, CIFAR10.tgz_md5):
            raise UserError(f"{archive} is incomplete or corrupt (its MD5 checksum is not CIFAR-10's); delete it "
                            "and download it again") from None
        folder = os.path.join(root, CIFAR10.base_folder)
        where = f"{folder} is incomplete or damaged" if os.path.isdir(folder) else f"CIFAR-10 is not in {root}/"
        tried = f" and could not be downloaded ({type(e).__name__})" if download else ""
        raise UserError(f"{where}{tried}. Put {CIFAR10.filename} at {archive}, or pass --data-dir DIR with "
                        f"DIR/train/<class>/ and DIR/test/<class>/ image folders.{datasets_inside(root)}") from None


def require_directory(root):
    """A UserError unless `root`, which exists, is a folder that can be listed."""
    if not os.path.isdir(root):
        raise UserError(f"data directory {root} is a file, not a directory")
    list_folder(root)


def val_folder(root):
    """The name of root's validation split (val/, valid/, validation/), which train.py does not read; or None."""
    return next((name for name in VAL_FOLDERS if os.path.isdir(os.path.join(root, name))), None)


def val_hint(root):
    """A hint for a dataset whose only split is DIR/val/ (an ImageNet-style validation download)."""
    other = val_folder(root)
    return f" It holds a {other}/ split: the splits are train/ and test/ (rename {other}/ to test/)." if other else ""


def datasets_inside(root):
    """A hint naming the image-folder datasets one level down (data/cifar10_jpeg in data/), if any, or
    saying how to lay out class folders each split in two (DIR/cat/train/, DIR/cat/test/)."""
    try:
        found = sorted(os.path.join(root, name) for name in os.listdir(root) if not is_hidden(name)
                       and all(os.path.isdir(os.path.join(root, name, split)) for split in ("train", "test")))
        split_classes = [f for f in found if holds_images_not_folders(os.path.join(f, "train"))]
    except OSError:
        return ""
    if len(split_classes) > 1 and split_classes == found:  # images right inside DIR/<class>/train/
        example = os.path.basename(found[0])
        return (f" Its folders are classes, each split in two ({example}/train/, {example}/test/, …): the layout is "
                f"DIR/train/<class>/ and DIR/test/<class>/; move the images so ({example}/train/* to "
                f"train/{example}/).")
    if not found:
        return ""
    others = ", ".join(shell_word(printable(f)) for f in found[1:4]) + (", …" if len(found) > 4 else "")
    return f" Image folders found: pass --data-dir {shell_word(printable(found[0]))}" + (
        f" (or {others})." if others else ".")


def split_holding(path, root):
    """The split folder of the dataset at `root` (root/train or root/test, links followed) that the file or
    folder `path` lies in, or None. (The folder's real path, not the name's: a link at the name itself is
    replaced by atomic writes, not written through.)"""
    where = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))), os.path.basename(path))
    for split in ("test", "train"):
        folder = os.path.realpath(os.path.join(root, split))
        if where.startswith(os.path.join(folder, "")):  # (not commonpath: on Windows, two drives raise ValueError)
            return os.path.join(root, split)
    return None


def holds_images_not_folders(folder):
    """Whether `folder` holds images and no subfolders: a class's folder, not a split's."""
    entries = [entry for entry in os.listdir(folder) if not is_hidden(entry)]
    return any(map(has_image_extension, entries)) and not any(os.path.isdir(os.path.join(folder, e)) for e in entries)


def where_data_goes(splits):
    """The hint for a folder with nothing of a dataset in it: what to put there, or what to pass."""
    from torchvision.datasets import CIFAR10
    folders = " and ".join(f"DIR/{split}/<class>/" for split in splits)
    pass_dir = f"pass --data-dir DIR with {folders} image folders"
    choices = f"or {pass_dir}" if "train" in splits else f"{pass_dir}, or give images to classify"  # (test.py)
    return f" Put {CIFAR10.filename} in it (train.py downloads it into data/), {choices}."


def split_hint(root, splits):
    """A hint for a --data-dir that names one split's class folders, as ImageFolder takes them, if it
    does: DIR/train itself, or one's own class folders with no split."""
    split_named = os.path.basename(os.path.abspath(root)) in ("train", "test")
    # (the folder above as written: the kernel's d/train/.. is the folder above where a link d/train leads)
    missing = [split for split in splits if not os.path.isdir(os.path.join(folder_above(root), split))]
    above = shell_word(printable(folder_above(root)))
    if split_named and not missing:
        return f" {printable(root)} is one split; the folder above it holds the dataset: --data-dir {above}"
    try:
        folders = [os.path.join(root, entry) for entry in os.listdir(root) if not is_hidden(entry)]
        if not any(has_image_extension(file) for folder in folders if os.path.isdir(folder)
                   for file in os.listdir(folder)):
            return ""
    except OSError:
        return ""
    if split_named:  # DIR/train, with no DIR/test beside it
        return (f" {printable(root)} is one split: add {' and '.join(f'{split}/<class>/' for split in missing)} "
                f"beside it, and pass --data-dir {above}")
    return (" Its subfolders hold images, as the class folders of one split do: put them in "
            f"{' and '.join(f'DIR/{split}/<class>/' for split in splits)}, and pass --data-dir DIR.")


def folder_above(root):
    """The folder that holds `root`, as short as it can be said: d for d/train, . for train."""
    name = os.path.normpath(root)
    if os.path.basename(name) in (os.curdir, os.pardir):  # (the working folder, or one above it)
        return os.path.dirname(os.path.abspath(root))
    return os.path.dirname(name) or os.curdir


# ---------------------------------------------------------------- listing an image folder
def list_splits(root, with_train=True):
    """Class names, and the (files, labels) of DIR/train (None unless `with_train`) and of DIR/test;
    UserError when the two splits share a folder or differ in their classes."""
    train_dir, test_dir = os.path.join(root, "train"), os.path.join(root, "test")
    other = val_folder(root)
    held_out = " (--val-split N holds out N training images for validation)" if with_train else ""
    if other and not os.path.exists(test_dir):
        raise UserError(f"{root} has a {other}/ split but no test/, the split scored: rename {other}/ to "
                        f"test/{held_out}")
    if with_train and os.path.realpath(train_dir) == os.path.realpath(test_dir):
        raise UserError(f"{printable(test_dir)} is {printable(train_dir)} (through a link): the test accuracy would "
                        "be measured on the images trained on; give test/ images of its own")
    listed = {}  # no folder in both splits: the test accuracy would be measured on images trained on
    # Beside a training split, a test split of one class is a class missing there, said below as such.
    classes, test_files, test_labels = list_image_folder(test_dir, listed, fewest=1 if with_train else 2)
    if not with_train:  # test.py needs the test split alone, whatever DIR/train holds
        return classes, None, (test_files, test_labels)
    train_classes, train_files, train_labels = list_image_folder(train_dir, listed)
    if train_classes != classes:
        raise UserError(f"train and test class folders differ in {root}: "
                        f"{class_difference(train_classes, classes, 'train/', 'test/')}")
    if other:
        say(f"note: {printable(os.path.join(root, other))} is not used: train.py trains on train/ and scores "
            f"test/{held_out}")
    return classes, (train_files, train_labels), (test_files, test_labels)


def class_difference(ours, theirs, our_place, their_place):
    """What tells two lists of class names apart, in words one can act on: the names only one of
    them holds, and those both hold written in two Unicode forms (café as macOS and as Linux write
    it), which would print alike."""
    sides = ((our_place, composed(ours) - composed(theirs)), (their_place, composed(theirs) - composed(ours)))
    told = [f"only in {place}: {', '.join(shown(name) for name in sorted(only))}" for place, only in sides if only]
    forms = sorted(composed(set(ours) ^ set(theirs)) & composed(ours) & composed(theirs))
    if forms:
        told.append(f"the same names written in two Unicode forms (as macOS and Linux write them): "
                    f"{', '.join(forms)}; rename the folders to match")
    # Neither: a checkpoint's own list, in another order or with a name twice (a listing is sorted).
    return "; ".join(told) or f"the same names, listed otherwise: {our_place} {ours}, {their_place} {theirs}"


def shown(name):
    """A class name as written, or quoted where what tells it apart cannot be seen ('cat ', a tab)."""
    return name if name.isprintable() and name == name.strip() else repr(name)


def composed(names):
    """The names with é as one character (NFC), whether written so or as e and an accent (NFD)."""
    return {unicodedata.normalize("NFC", name) for name in names}


def list_image_folder(split_dir, listed=None, fewest=2):
    """Classes and (files, labels) of `split_dir/<class>/*`, sorted as ImageFolder sorts them.
    `listed`: the folders of another split listed already, which this one must not share."""
    classes = class_folders(split_dir, fewest)
    listed = {} if listed is None else listed
    list_once(split_dir, listed)
    files, labels, ignored, empty = [], [], [], []
    for label, name in enumerate(classes):
        if not is_utf8(name):  # class names go into TensorBoard's tags and the checkpoint
            raise UserError(f"class folder {name!r} in {split_dir} has a name that is not UTF-8; rename it")
        found = [os.path.join(folder, f) for folder, names in walk_class_folder(os.path.join(split_dir, name), listed)
                 for f in names]
        images = [path for path in found if has_image_extension(path)]
        ignored += [path for path in found if not has_image_extension(path)]
        files += images
        labels += [label] * len(images)
        if not images:
            empty.append(name)
    if empty:
        raise UserError(f"{split_dir}: no images in the class folder(s) {', '.join(empty)} "
                        f"(images end in {', '.join(IMAGE_EXTENSIONS)})")
    warn_ignored(ignored, split_dir)
    return classes, files, torch.tensor(labels, dtype=torch.long)


def class_folders(split_dir, fewest=2):
    """The class folders in `split_dir`, sorted (a note names files beside them); UserError where it is missing,
    has a broken link, fewer than `fewest` classes, or one name in two Unicode forms."""
    if not os.path.isdir(split_dir):
        what = "a file, not a split folder" if os.path.exists(split_dir) else "a missing split folder"
        raise UserError(f"{split_dir} is {what} (expected {split_dir}/<class>/<images>)")
    names = [name for name in list_folder(split_dir) if not is_hidden(name)]
    classes = sorted(name for name in names if os.path.isdir(os.path.join(split_dir, name)))
    loose = sorted(set(names) - set(classes))
    for name in loose:  # a class folder linked to a drive that is not mounted: its class would be left out
        link = os.path.join(split_dir, name)
        if os.path.islink(link) and not os.path.exists(link) and not os.path.splitext(name)[1]:  # (not notes.txt)
            raise UserError(f"{printable(link)} is a link to {printable(os.readlink(link))}, which leads to no folder "
                            "(a class folder on a drive not mounted?, or a loop); mount it, or remove the link")
    forms = collections.Counter(unicodedata.normalize("NFC", name) for name in classes)
    twice = sorted(name for name, count in forms.items() if count > 1)
    if twice:  # café as macOS and as Linux write it: two classes that print alike
        raise UserError(f"{printable(split_dir)} holds class folders of the same names written in two Unicode forms "
                        f"(as macOS and Linux write them): {', '.join(twice)}; rename the folders to one form")
    if loose and classes:  # without classes, the error below says what is expected
        say(f"note: {len(loose)} file(s) directly in {printable(split_dir)}, in no class folder, are not used "
            f"({printable(loose[0])}{', …' if len(loose) > 1 else ''})")
    if len(classes) < fewest:
        raise UserError(f"{split_dir} holds {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); "
                        f"a classifier needs two or more (expected {split_dir}/<class>/<images>)")
    return classes


def warn_ignored(ignored, where):
    """Files that ImageFolder, too, leaves out for their extension (.gif, .jfif, notes): said, not silent."""
    if ignored:
        kinds = sorted({printable(os.path.splitext(p)[1].lower()) or "no extension" for p in ignored})
        say(f"note: ignored {len(ignored)} file(s) in {printable(where)} that are not images by their extension "
            f"({', '.join(kinds)}); images end in {', '.join(IMAGE_EXTENSIONS)}")


def walk_class_folder(folder, listed):
    """(folder, file names) for every folder below `folder`, sorted and links followed as ImageFolder walks it,
    hidden folders left out (a NAS's .snapshot/; two hidden links back up: a walk without end). UserError at a
    folder this user may not read, which ImageFolder skips silently, or at one listed already (`listed`: shared
    by the classes of both splits), which it would walk again: a link up some 40 times over, one from two
    classes under both labels, one from both splits to test on images trained on."""
    def fail(e):
        raise UserError(f"cannot read folder {printable(e.filename)}: {e.strerror or e}")

    list_once(folder, listed)
    found = []
    try:
        for parent, subfolders, files in os.walk(folder, followlinks=True, onerror=fail):
            subfolders[:] = [name for name in subfolders if not is_hidden(name)]
            for name in subfolders:
                list_once(os.path.join(parent, name), listed)
            found.append((parent, sorted(name for name in files if not is_hidden(name))))
    except RecursionError:  # os.walk recurses once per level (until Python 3.12)
        raise UserError(f"{printable(folder)} has folders nested hundreds deep, more than Python can walk; "
                        "flatten them") from None
    return sorted(found)


def list_once(folder, listed):
    """Adds `folder` to `listed` (real path -> the path it was listed as); UserError when it is there
    already, through a link."""
    real = os.path.realpath(folder)
    if real in listed:
        raise UserError(f"{printable(folder)} and {printable(listed[real])} are the same folder (through a link): "
                        "its images would be taken twice or more, under two classes, or for training and testing "
                        "both; remove the link")
    listed[real] = folder


def list_folder(path):
    """os.listdir, with a folder this user may not read reported in one line: os.walk, which
    ImageFolder uses, would quietly take it for an empty one."""
    try:
        return os.listdir(path)
    except OSError as e:
        raise UserError(f"cannot read folder {path}: {e.strerror or e}") from None


def is_hidden(path):
    """Names starting with a dot (.ipynb_checkpoints/ that Jupyter leaves, ._x.jpg that macOS leaves
    beside x.jpg on other file systems), and the folders that systems make in a user's (SYSTEM_FOLDERS).
    None is a class or an image."""
    name = os.path.basename(path)
    return name.startswith(".") or name in SYSTEM_FOLDERS


def has_image_extension(name):
    """The files ImageFolder takes as images: .jpg, .png and the like (IMAGE_EXTENSIONS)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


# ---------------------------------------------------------------- decoding a split, once: the cache
def load_folder_split(split_dir, files, labels, num_workers):
    """Decoded images of one split, from the cache when it is current; UserError when none, or none of a
    class, can be read (as a class folder without images is refused: a class never seen, or never scored)."""
    path, key = cache_path(split_dir), folder_fingerprint(split_dir, files)
    blob = read_cache(path, key, files, num_classes=int(labels.max()) + 1 if len(labels) else 0)
    if blob is None:
        blob = decode_into_cache(split_dir, files, labels, num_workers, path, key)
    if blob["skipped"]:
        say(skipped_warning(blob["skipped"], split_dir))
    if len(blob["labels"]) == 0:
        raise UserError(f"no readable images in {split_dir}")
    lost = sorted(set(labels.tolist()) - set(blob["labels"].tolist()))
    if lost:
        first = files[labels.tolist().index(lost[0])]
        raise UserError(f"class folder {printable(os.path.relpath(first, split_dir).split(os.sep)[0])} in "
                        f"{split_dir} has no readable images{f' (and {len(lost) - 1} more)' if len(lost) > 1 else ''}")
    skipped = set(blob["skipped"])
    readable = [f for f in files if os.path.relpath(f, split_dir) not in skipped]
    return Split(blob["labels"], images=blob["images"], files=readable)


def decode_into_cache(split_dir, files, labels, num_workers, path, key):
    """Decode the split and save it at `path` as read_cache() reads it: images, labels, the unreadable files."""
    from checkpoint import atomic_save  # local import: checkpoint.py imports this module
    say(f"decoding {len(files)} images in {split_dir} (once; cached in {path})")
    images, kept, bad = decode_all(files, labels, num_workers)
    blob = {"key": key, "images": images, "labels": kept, "skipped": [os.path.relpath(f, split_dir) for f in bad]}
    try:
        os.makedirs(CACHE_DIR, exist_ok=True)
        atomic_save(blob, path)
    except (OSError, UserError) as e:  # a cache we cannot write only costs time
        say(f"warning: the decoded images are not cached ({e}); they are decoded again next time")
    return blob


def skipped_warning(bad, where):
    """The warning for the unreadable files `bad`, named from their split's folder `where` as the cache keeps
    them (class/name: every class folder may hold its own 0.png, and subfolders of its own)."""
    names = ", ".join(printable(name) for name in bad[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    why = "corrupt, not readable by this user, too large to decode safely, or a pipe or device"
    return f"warning: skipped {len(bad)} unreadable image(s) ({why}) in {where}: {names}{more}"


def folder_fingerprint(split_dir, files):
    """A key that changes when any file is added, removed, resized or rewritten, also with its old
    size and modification time (cp -p, rsync -a, touch -r), or made readable or not (chmod): its
    ctime changes then, and no tool sets it back."""
    h = hashlib.sha256(f"v{CACHE_VERSION} {IMAGE_SIZE}\n{decoding_code()}".encode())
    for path in files:
        try:
            st = os.stat(path)
            size_and_time = f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
        except OSError:  # a broken link, say: decoding will skip it as unreadable
            size_and_time = "unreadable"
        # fsencode: a name that is not UTF-8 (from another system) has no str encoding of its own.
        h.update(os.fsencode(os.path.relpath(path, split_dir)) + f"\0{size_and_time}\n".encode())
    return h.hexdigest()


def decoding_code():
    """The code that turns a file into an image, as written: a cache decoded by other code (one's own edit of
    it, undone since, say) is decoded again, as CACHE_VERSION has this version's caches of older ones."""
    decoders = (load_image, turn_upright, to_rgb)
    try:
        return "".join(inspect.getsource(f) for f in decoders)
    except OSError:  # no source files (compiled alone): their bytecode
        return "".join(f.__code__.co_code.hex() for f in decoders)


def cache_path(split_dir):
    """data/cache/<parent>-<split>-<hash of its absolute path>.pt: one file per folder, named to be told apart."""
    name = os.path.abspath(split_dir)
    tag = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
    parent = os.path.basename(os.path.dirname(name)) or "data"
    return os.path.join(CACHE_DIR, f"{parent}-{os.path.basename(name)}-{tag}.pt")


def read_cache(path, key, files, num_classes):
    """The cached split of `files`, or None when absent, stale or unreadable."""
    if not os.path.exists(path):
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("key") != key:
            say(f"note: {path} is stale (the images changed, or how this version decodes them); rebuilding")
            return None
        images, labels, skipped = blob["images"], blob["labels"], blob["skipped"]
        if images.dtype != torch.uint8 or images.shape[1:] != (3, IMAGE_SIZE, IMAGE_SIZE) or \
                labels.dtype != torch.long or labels.shape != images.shape[:1] or \
                not ((labels >= 0) & (labels < num_classes)).all() or \
                not (isinstance(skipped, list) and all(isinstance(f, str) for f in skipped)) or \
                len(labels) + len(skipped) != len(files):
            raise ValueError("its contents do not match its key")
        return blob
    except Exception as e:  # any damage means rebuild, never a crash
        say(f"warning: cache file {path} is unreadable ({type(e).__name__}); rebuilding")
        return None


STOP_SIGNALS = set(interrupt.HOW) - {None}  # Ctrl-C, SIGTERM, SIGHUP (none on Windows)


@contextlib.contextmanager
def signals_blocked(signums):
    """`signums` blocked in this thread while inside: a process started meanwhile inherits them blocked."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start_resource_tracker():
    """Python's resource tracker, which workers started by spawn (macOS) or forkserver need, started before anything
    else starts it, with SIGHUP blocked. It ignores Ctrl-C and SIGTERM itself, not a hang-up: a terminal's, sent to
    every process of its group, killed it, and a run that stopped and saved as it should ended with a warning and a
    KeyError traceback for each of its semaphores. (Called by the statistics' sample, decode_all, and as a streamed
    BatchLoader is made, before tqdm's lock of a resumed run's first progress bar starts it.) Under forkserver
    (Python 3.14's default on Linux, which the scripts replace with fork: interrupt.fork_workers_on_linux) the
    workers are forked by a server of Python's, whose blocked signals they inherit, not this process's: they die of
    a signal sent to the whole group (README, Reliability). The server is left so: shielded, it and its workers
    outlived a run killed before it could end them, for ever."""
    if not hasattr(signal, "pthread_sigmask") or multiprocessing.get_start_method() == "fork":
        return
    with signals_blocked({signal.SIGHUP}):  # (its first start unblocks SIGINT and SIGTERM as it ends)
        multiprocessing.resource_tracker.ensure_running()


@contextlib.contextmanager
def workers_leave_stops_to_us():
    """Decoding workers started in here leave Ctrl-C, SIGTERM and SIGHUP to the process that started them:
    train.py stops after the step it is in and saves, test.py removes what it was writing. A terminal
    sends Ctrl-C and its hang-up to every process of its group, `timeout` and schedulers send SIGTERM to
    every process: a worker that died of one failed the run (a DataLoader that lost its workers), nothing
    saved. They inherit these signals blocked; one sent meanwhile waits, and reaches the process after."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    start_resource_tracker()  # (not inside the block: its first start unblocks SIGINT and SIGTERM)
    with signals_blocked(STOP_SIGNALS):
        yield


@atexit.register  # (registered after multiprocessing's exit, which terminates and joins, so run before it)
def kill_leftover_workers():
    """Python's exit ends the daemonic processes still running, DataLoader's workers, with SIGTERM, then waits for
    them. Shielded ones (workers_leave_stops_to_us) ignore it: where their DataLoader lives on to the exit (held by
    a traceback, say), the exit waited for ever. Killed here instead."""
    leftover = [worker for worker in multiprocessing.active_children() if worker.daemon]
    if leftover:  # (torch's SIGCHLD handler would raise that a worker was killed)
        interrupt.forget_worker_deaths()
    for worker in leftover:
        worker.kill()


def decode_all(files, labels, num_workers):
    """Decode every file once, in order; returns images, labels and the unreadable files."""
    if num_workers > 0:
        start_resource_tracker()
    loader = DataLoader(ImageFiles(files, labels), batch_size=256, num_workers=num_workers,
                        collate_fn=stack_readable)
    images, kept, bad = [], [], []
    for x, y, _, bad_idx in loader:  # (Ctrl-C stops its workers too: nothing here to save)
        images.append(x)
        kept.append(y)
        bad += [files[i] for i in bad_idx]
    return torch.cat(images), torch.cat(kept), bad


class ImageFiles(Dataset):
    """Image files and labels; item i is (uint8 image or None when unreadable, label, i)."""

    def __init__(self, files, labels):
        self.files, self.labels = files, labels

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        try:
            # (checked here, not as the folder is listed: a stat of every file costs a cached run 0.4 s)
            image = None if is_special(self.files[i]) else load_image(self.files[i])
        except BadImage:
            image = None
        return image, int(self.labels[i]), i


def stack_readable(items):
    """DataLoader collate: stack the readable images; return their indices and those of the others."""
    good = [item for item in items if item[0] is not None]
    bad = [i for img, _, i in items if img is None]
    images = (torch.stack([img for img, _, _ in good]) if good
              else torch.empty(0, 3, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8))  # (a batch of unreadable files)
    labels = torch.tensor([y for _, y, _ in good], dtype=torch.long)
    index = torch.tensor([i for _, _, i in good], dtype=torch.long)
    return images, labels, index, bad


def is_special(path):
    """A named pipe, socket or device, named like an image: opening one waits for a writer, as
    cat would, for ever if there is none."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # a broken link, say: decoding reports it as unreadable
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


# ---------------------------------------------------------------- one image
class BadImage(ValueError):
    """A file that cannot be read as an image."""


def load_image(path):
    """Read any image file as a uint8 tensor (3, 32, 32), the way training sees it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data": the pixels still decode
            with Image.open(path) as img:  # over 179 megapixels: DecompressionBombError
                # Pillow knows a file by its bytes, not its name: a dog.png that is PostScript, a program, would be
                # drawn by running Ghostscript on it (for ever, if it loops).
                if img.format == "EPS":
                    raise ValueError("PostScript, which is a program: not run")
                # Each scan of a progressive JPEG is a pass over the whole picture, and a scan can be 95 bytes: 1,000
                # repeated in a file of 350 KB took 43 s to decode.
                if img.format in ("JPEG", "MPO") and jpeg_scans(img.fp) > MAX_JPEG_SCANS:
                    raise ValueError(f"a JPEG of over {MAX_JPEG_SCANS} scans, which would take minutes to decode")
                img.draft("RGB", (IMAGE_SIZE, IMAGE_SIZE))  # JPEG: decode at reduced scale, cheap for huge files
                # Over 89 megapixels once drafted (a large phone's photo as a JPEG is not): gigabytes to decode.
                if img.width * img.height > Image.MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError(path)
                img.load()  # (a file that does not decode fails here, before its metadata is read)
                turn_upright(img)
                img = to_rgb(img)
    except Image.DecompressionBombError:
        raise BadImage("image too large to decode safely (over 89 megapixels; a JPEG, over 179)") from None
    except FileNotFoundError:
        raise BadImage("no such file") from None
    except IsADirectoryError:
        raise BadImage("is a directory") from None
    except Image.UnidentifiedImageError:
        if path.lower().endswith((".heic", ".heif")):  # an iPhone's photos
            raise BadImage("a HEIC photo, which Pillow cannot read: convert it to JPEG") from None
        raise BadImage("not an image file") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise BadImage(f"unreadable image ({e})") from None
    if img.size != (IMAGE_SIZE, IMAGE_SIZE):  # as the tutorial's transforms.Resize((32, 32)) does it
        img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).contiguous()


# A marker of a JPEG: FF (the last of any FF fill bytes) then its kind. Passed over, as libjpeg passes them: FF 00 (a
# byte FF of the compressed data), and RSTn and TEM, which have no segment. (Not \xff+: 20 times slower.)
JPEG_MARKER = re.compile(rb"\xff([^\x00\xff\x01\xd0-\xd7])")


def jpeg_scans(f):
    """The scans of the JPEG in file `f` (its SOS markers, FF DA), as libjpeg reads them: from its start to its end
    (EOI, FF D9), each segment passed over by its length. The bytes a segment holds (an EXIF thumbnail, a comment)
    and those after the end (a motion photo's video, an MPO's other pictures) may hold FF DA anywhere: counted as
    scans, 8 MB of a video after a phone's photo had it refused (2026-11-28, a helper's review). `f` is left where
    it was."""
    at, count = f.tell(), 0
    f.seek(0)
    data = f.read()
    f.seek(at)
    pos = 2  # after SOI, FF D8
    while (marker := JPEG_MARKER.search(data, pos)) and marker[1] != b"\xd9":
        pos = marker.end()
        count += marker[1] == b"\xda"
        if marker[1] != b"\xd8":  # (a second SOI, which libjpeg refuses, has no segment)
            pos += int.from_bytes(data[pos:pos + 2], "big")  # (its length counts its own 2 bytes)
    return count


def turn_upright(img):
    """A phone's portrait photo turned upright, as its EXIF orientation says and viewers show it.
    Metadata Pillow cannot parse or rewrite (a tag of another type, a cut profile: struct.error,
    TypeError, AttributeError, …) leaves the pixels as they are, as ImageFolder reads them (or already
    turned: Pillow turns them before it rewrites the metadata)."""
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(img, in_place=True)


def to_rgb(img):
    """Any Pillow mode to 8-bit RGB (16-bit, 32-bit and float images scaled by 1, 255 or 65535 to
    8 bits, not cut to their low byte; what lies outside that range is clipped)."""
    img.load()
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, dtype=np.float64)
        # 16-bit: 65535 is white, whatever the image's brightest pixel (Pillow opens a 16-bit PGM, and
        # older Pillows a 16-bit PNG, as 32-bit "I", scaled to 0-65535)
        if img.mode.startswith("I;16") or (img.mode == "I" and img.format in ("PNG", "PPM")):
            top = 65535.0
        elif img.mode == "F" and a.max() <= 1:  # floats in [0, 1], as most float images hold them
            top = 1.0
        else:  # 32-bit integers, other floats: 255 or 65535 as white, by their brightest pixel
            top = 65535.0 if a.max() > 255 else 255.0
        # (A 2-D uint8 array is mode "L": passing the mode is deprecated since Pillow 11.3.)
        img = Image.fromarray(np.clip(a / top * 255 + 0.5, 0, 255).astype(np.uint8))
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


def is_image(path):
    """Whether Pillow recognizes the file as an image, from its header (nothing is decoded)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as img:  # (Pillow recognizes HDF5, GRIB and BUFR files, and cannot read them)
                return not isinstance(img, ImageFile.StubImageFile)
        except Image.DecompressionBombError:  # an image, one too large to decode
            return True
        except (OSError, ValueError):
            return False


# ---------------------------------------------------------------- scored images that are training images too
def warn_of_images_trained_on(train, scored, root, flip):
    """Says so when test or validation images are also training images, pixel for pixel, or mirrored where
    training flips them (a copy, a link, a file hard-linked into both splits, a folder of images and their
    mirrors split in two): their accuracy would count images trained on as unseen. `scored`: {"test": split,
    "validation": split or None}. Splits in memory only: a streamed one would be read whole once more."""
    if train.images is None:
        return
    trained = {image_digest(image): i for i, image in enumerate(train.images.cpu().numpy())}
    for kind, split in scored.items():
        if split is None or split.images is None:
            continue
        both = []
        for i, image in enumerate(split.images.cpu().numpy()):
            views = (image, image[..., ::-1]) if flip else (image,)
            found = [trained[d] for d in map(image_digest, views) if d in trained]
            if found:
                both.append((i, found[0]))
        if both:
            say(images_trained_on_warning(kind, both, split, train, root, flip))


def images_trained_on_warning(kind, both, split, train, root, flip):
    """The warning for the (scored image, training image) pairs `both`."""
    are = "is also a training image" if len(both) == 1 else "are also training images"
    how = "pixel for pixel or mirrored" if flip else "pixel for pixel"
    example = ""
    if split.files and train.files:  # (CIFAR-10's arrays: an image's number would be the one left by --val-split)
        (i, j), more = both[0], f", and {len(both) - 1} more" if len(both) > 1 else ""
        example = f" ({name_in(split.files[i], root)} is {name_in(train.files[j], root)}{more})"
    if kind == "test":
        them = "it" if len(both) == 1 else "them"
        told = f"the test accuracy is partly measured on images trained on; remove {them} from one split"
    else:  # held out of train/ by --val-split: copies within it
        told = "best.pth is chosen partly on images trained on; remove the copies from train/"
    return f"warning: {len(both)} of the {len(split)} {kind} images {are}, {how}{example}: {told}"


def image_digest(image):
    # (16 bytes: two different images never share one; a mirror, a view of the array, is made contiguous)
    return hashlib.blake2b(np.ascontiguousarray(image), digest_size=16).digest()


def name_in(path, root):
    return printable(os.path.relpath(path, root))


# ---------------------------------------------------------------- statistics for normalize()
def channel_stats(split, num_workers=0):
    """Per-channel mean and std (in [0,1] units) of a split's images. A channel with one value
    in every pixel has nothing to scale: its std is given as 1, as scikit-learn's StandardScaler
    does, where 0 would turn it into NaN."""
    images = split.images if split.images is not None else sample_images(split, STATS_SAMPLE, num_workers)
    total, squares = torch.zeros(3, dtype=torch.int64), torch.zeros(3, dtype=torch.int64)
    for chunk in images.split(4096):  # exact integer sums, in chunks: an int64 copy is 8x the images
        x = chunk.to("cpu", torch.int64)
        total += x.sum((0, 2, 3))
        squares += x.square_().sum((0, 2, 3))
    n = images.numel() // 3
    mean = [t / n / 255 for t in total.tolist()]
    # Python integers: exact, so a constant channel gives 0 and never a rounding error's sqrt.
    variance = [(n * q - t * t) / (n * (n - 1)) for t, q in zip(total.tolist(), squares.tolist())]
    return {"mean": mean, "std": [math.sqrt(v) / 255 if v > 0 else 1.0 for v in variance]}


def spread(n, k):
    """Up to k indices evenly spread over range(n): an image folder lists its images class by class,
    and its first k would be of one class."""
    return torch.linspace(0, n - 1, min(n, k)).long()


def sample_images(split, count, num_workers=0):
    """`count` of the split's images, evenly spaced, as uint8 on the CPU (decoded when streamed, by
    `num_workers` processes)."""
    index = spread(len(split), count)
    if split.images is None:
        images = decode_all([split.files[i] for i in index.tolist()], split.labels[index], num_workers)[0]
        if len(images) == 0:  # (a split in memory was checked as it was decoded: load_folder_split)
            raise UserError(f"none of the {len(index)} images sampled from {split.folder} could be read")
        return images
    return split.images[index.to(split.images.device)].cpu()


def whitening_filter(split, stats, num_workers=0):
    """A fixed 5x5 convolution (3 channels in, 3 out) that weakens the correlation of neighbouring
    pixels and channels of the images as normalize(images, stats) gives them (standardized, unless
    --no-normalize): the centre rows of the ZCA whitening matrix of their 5x5 patches, each output
    channel scaled to unit variance. WHITEN_EPS keeps it partial (CIFAR-10's horizontal neighbours
    correlate about 0.95 before it, under 0.5 after); a smaller eps, stronger whitening, trained
    worse (docs/accuracy.md). As a flat list of 225 floats."""
    area = WHITEN_SIZE * WHITEN_SIZE
    dims = 3 * area  # one patch: 3 channels of WHITEN_SIZE x WHITEN_SIZE pixels
    cov, total, count = torch.zeros(dims, dims, dtype=torch.float64), torch.zeros(dims, dtype=torch.float64), 0
    for chunk in sample_images(split, WHITEN_SAMPLE, num_workers).split(100):  # 100 images: ~50 MB of patches
        patches = F.unfold(normalize(chunk, stats).double(), WHITEN_SIZE)  # (images, dims, patches per image)
        cov += torch.bmm(patches, patches.transpose(1, 2)).sum(0)  # (not one matrix of all: a copy, 3x slower)
        total += patches.sum((0, 2))
        count += patches.shape[0] * patches.shape[2]
    mean = total / count
    cov = cov / count - mean.outer(mean)
    # WHITEN_EPS is sized for standardized pixels, of variance 1. Pixels left in [0, 1] (--no-normalize)
    # vary about 16 times less, and the same eps would leave them barely whitened: it scales with them.
    standardized = {k: stats[k] for k in IDENTITY} != IDENTITY
    pixel_variance = cov.diag().mean().item()
    # Images that do not vary (all black, whose statistics are IDENTITY's, or of one colour left in [0, 1]) have
    # nothing to whiten: an eps scaled to their variance of 0, or of a rounding error, made the filter nan.
    eps = WHITEN_EPS if standardized or pixel_variance < 1e-6 else WHITEN_EPS * pixel_variance
    eigenvalues, u = torch.linalg.eigh(cov)
    centre = u[[c * area + area // 2 for c in range(3)]]  # the centre pixel of each channel (unfold's order)
    rows = centre * (eigenvalues + eps).rsqrt() @ u.T
    variance = (centre * (eigenvalues / (eigenvalues + eps)) @ centre.T).diag()
    # A channel that does not vary (see channel_stats) has nothing to scale either; one that
    # varies keeps a variance far above 1e-6 here (CIFAR-10's: about 0.2, standardized or in [0, 1]: eps scales).
    scale = variance.sqrt().where(variance > 1e-6, torch.ones_like(variance))
    return (rows / scale[:, None]).flatten().tolist()


# ---------------------------------------------------------------- batches
class Batches:
    """The index batches of one epoch, for this process.

    Each epoch's order is a shuffle seeded by (seed, epoch), so it needs no saved
    RNG state; every global batch is cut into `world` contiguous shards, one per
    process. Used directly on the in-memory path and as the DataLoader's
    batch_sampler on the streaming path, so both see the same batches (the same
    images, when every image is readable: see the module's docstring)."""

    def __init__(self, n, batch_size, seed=0, shuffle=False, rank=0, world=1):
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.rank, self.world = rank, world
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch, skip=0):
        """Select the epoch, and how many of its first batches were already trained on."""
        self.epoch, self.skip = epoch, skip

    def order(self):
        """This epoch's order of the n indices; seed * 100_003 + epoch: another seed for every (seed, epoch)."""
        if not self.shuffle:
            return torch.arange(self.n)
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch))

    def __iter__(self):
        order = self.order()
        for start in range(self.skip * self.batch_size, self.n, self.batch_size):
            yield order[start:start + self.batch_size].tensor_split(self.world)[self.rank]

    def __len__(self):
        return math.ceil(self.n / self.batch_size) - self.skip


class BatchLoader:
    """(uint8 images, labels, their indices in the split) on `device`, batch by batch.

    Iterate it once per epoch, after `batches.set_epoch(...)`. In memory, a batch is one
    indexing operation. Streamed, a DataLoader decodes the files in worker processes,
    kept alive from one epoch to the next, into pinned memory when training on a GPU."""

    def __init__(self, split, batches, device, num_workers=0):
        self.split, self.batches, self.device = split, batches, device
        self.stream = None
        if split.images is None:
            if num_workers > 0:  # (here, not as it is iterated: a resumed run's progress bar starts it before)
                start_resource_tracker()
            self.stream = DataLoader(ImageFiles(split.files, split.labels), batch_sampler=batches,
                                     num_workers=num_workers, collate_fn=stack_readable,
                                     pin_memory=device.type == "cuda", persistent_workers=num_workers > 0)

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        if self.stream is None:
            images, labels = self.split.images.to(self.device), self.split.labels.to(self.device)
            # The epoch's indices go to the GPU in one copy: a copy from the CPU's memory waits for the GPU to
            # finish its queued work, and one per batch would stop the CPU from preparing the next step meanwhile.
            batches = list(self.batches)
            if batches:  # (none: an epoch resumed after its last batch)
                for index in torch.cat(batches).to(self.device).split([len(b) for b in batches]):
                    yield images[index], labels[index], index
            return
        bad = []
        with workers_leave_stops_to_us():
            batches = iter(self.stream)
        for x, y, index, bad_idx in batches:
            bad += [self.split.files[i] for i in bad_idx]
            yield (x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True),
                   index.to(self.device, non_blocking=True))
        new = [p for p in bad if p not in self.split.reported]  # said once, not every epoch
        self.split.reported.update(new)
        if new:  # from every process under torchrun: each reads files of its own
            print(skipped_warning([os.path.relpath(p, self.split.folder) for p in new], self.split.folder),
                  file=sys.stderr)


# ---------------------------------------------------------------- batch transforms
def normalize(images, stats):
    """uint8 (B,3,H,W) -> float, scaled to [0,1], standardized per channel, then whitened
    when `stats` hold a filter (see whitening_filter)."""
    mean, std = (tensor_on(tuple(stats[k]), (1, 3, 1, 1), images.device) for k in ("mean", "std"))
    x = (images.float().div_(255) - mean) / std
    if "whiten" in stats:
        pad = (WHITEN_SIZE // 2,) * 4
        weight = tensor_on(tuple(stats["whiten"]), (3, 3, WHITEN_SIZE, WHITEN_SIZE), images.device)
        x = F.conv2d(F.pad(x, pad, mode="reflect"), weight)
    return x


@functools.lru_cache(maxsize=12)
def tensor_on(values, shape, device):
    """`values` as a tensor of `shape` on `device`, made once: a fresh host-to-GPU copy every batch would stall."""
    return torch.tensor(values, device=device).view(shape)


def augment_params(n, seed, epoch, pad):
    """Per-image random shifts (in [0, 2*pad]) and flips for one epoch, indexed by image.
    Flips alternate (airbench): each image is flipped in every other epoch, from a random
    first epoch, so any two epochs in a row show both of its sides."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch + 7_919)  # (+ 7_919: not Batches.order's seed)
    shifts = torch.randint(0, 2 * pad + 1, (n, 2), generator=g)
    first = torch.rand(n, generator=torch.Generator().manual_seed(seed + 12_345)) < 0.5
    return shifts, first ^ bool(epoch % 2)


def augment(x, shifts, flips, pad, flip):
    """Random crop (reflect-padded by `pad`) and horizontal flip of a batch, as tensor ops."""
    if pad:
        b, c, h, w = x.shape
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        rows = shifts[:, 0, None] + torch.arange(h, device=x.device)
        cols = shifts[:, 1, None] + torch.arange(w, device=x.device)
        x = x.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * pad))
        x = x.gather(3, cols[:, None, None, :].expand(b, c, h, w))
    if flip:
        x = torch.where(flips[:, None, None, None], x.flip(3), x)
    return x
