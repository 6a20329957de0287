"""Checkpoints: written atomically, read without executing anything.

A checkpoint is a plain dict of tensors, numbers, strings, None, lists and dicts, so
torch.load(path, weights_only=True) reads it. The tutorial's own files are
whole-model pickles (torch.save(model)); they are read under weights_only=True
too, with an allowlist of exactly the classes that network is built from.
"""
import math
import os
import pickle
import re
import secrets
import shlex
import stat
import struct
import sys
import warnings
import zipfile

import torch
from torch import nn

from data import IDENTITY, WHITEN_SIZE, UserError, is_hidden, is_image, list_folder, printable, shell_word
from model import Tudui

FLOAT32 = torch.finfo(torch.float32)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# PyTorch's magic number as pickled, in the first pickle of its format before 1.6 (after a frame header when
# saved with pickle_protocol 4 or 5).
LEGACY_MAGIC = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)[2:-1]
NORMALIZE_SIZES = {"mean": 3, "std": 3, "whiten": 3 * 3 * WHITEN_SIZE**2}  # "whiten": optional (data.whitening_filter)

# The other entries of this project's checkpoints that are read back, and the type each must have.
ENTRY_TYPES = {"classes": list, "config": dict, "optimizer": dict, "epoch": int, "batch": int, "step": int,
               "best_val_accuracy": (int, float), "training_data": dict, "epoch_sums": list}


class Uncallable(type):
    """The metaclass of the classes a tutorial pickle may hold. Unpickling makes their objects as
    torch.save(model) saved them (cls.__new__, then their saved attributes) and never calls the
    class: a file of 800 bytes that calls nn.Linear(100000, 100000) would have it allocate 40 GB."""

    def __call__(cls, *args, **kwargs):
        raise pickle.UnpicklingError(f"it calls {cls.__name__}(…) instead of holding one")


def uncallable(cls, name=None):
    """For the allowlist: a subclass of `cls` that cannot be called, and the name a pickle gives `cls`."""
    return Uncallable(cls.__name__, (cls,), {}), name or f"{cls.__module__}.{cls.__qualname__}"


# What a tutorial whole-model pickle may contain; it names its class after the script that saved
# it, model.py or the training script run as __main__. For torch.load alone: the network it gives
# cannot be sliced or saved whole again (its classes cannot be called), and read_checkpoint takes
# its weights at once.
TUTORIAL_PICKLE_CLASSES = [uncallable(Tudui, "model.Tudui"), uncallable(Tudui, "__main__.Tudui"),
                           *(uncallable(layer) for layer in (nn.Sequential, nn.Conv2d, nn.MaxPool2d, nn.Flatten,
                                                             nn.Linear))]


def atomic_save(obj, path):
    """torch.save `obj` to `path` atomically."""
    atomic_write(path, lambda f: torch.save(obj, f))


def is_stream(path):
    """A device, a pipe, or the process's own streams (/dev/stdout, /dev/fd/N): written as they
    are, not replaced (a rename would put a file in their place, or in place of /dev/stdout)."""
    if os.path.islink(path) and os.readlink(path).startswith("/proc/"):  # /dev/stdout -> /proc/self/fd/1
        return True
    if os.path.realpath(os.path.dirname(os.path.abspath(path))).startswith("/proc/"):  # /dev/fd/1
        return True
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


def write_stream(path, write):
    """write(file) into a stream. This process's own stdout is written through sys.stdout, in
    turn with what it prints (opened again, `> x.png` would get a second file offset, and the
    printed lines would overwrite the picture); anything else is appended to (`>> log`)."""
    try:
        own_stdout = os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):  # stdout captured (pytest) or closed
        own_stdout = False
    if own_stdout:
        sys.stdout.flush()
        write(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    with open(path, "ab") as f:
        write(f)


def behind_zip_writer(e):
    """What made torch.save's zip writer fail, or `e` itself: on a full disk, or a Ctrl-C as it writes, it
    raises the OSError or KeyboardInterrupt, then, closing the zip, a RuntimeError ("unexpected pos …")
    that hides it."""
    if isinstance(e, RuntimeError) and isinstance(e.__context__, (OSError, KeyboardInterrupt)):
        return e.__context__
    return e


def atomic_write(path, write):
    """write(file) into a temporary file beside `path`, then rename: a reader never sees half a file.
    A link is replaced, never written through (last.pth linked to epoch_001.pth keeps epoch 1);
    an existing file's permissions are kept, a new one gets the umask's, as open() gives them.
    A stream (is_stream: /dev/stdout, a pipe, a device), which cannot be renamed over, is written to."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        if is_stream(path):
            write_stream(path, write)
            return
        name = os.path.join(folder, f".tmp-{secrets.token_hex(8)}.part")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mkstemp's would be 0600
        tmp = name
        with os.fdopen(fd, "wb") as f:
            if os.path.isfile(path) and not os.path.islink(path):
                os.fchmod(f.fileno(), stat.S_IMODE(os.stat(path).st_mode))
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        failure = behind_zip_writer(e)
        if isinstance(failure, OSError):
            raise UserError(f"could not write {path}: {failure.strerror or failure}", code=1) from None
        if failure is not e:  # a Ctrl-C (or bench.py's SIGTERM): stopped, not a traceback
            raise failure from None
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def no_checkpoint_in(folder):
    """Why a folder given as a checkpoint has no last.pth, and what to name instead."""
    loose = [f for f in checkpoint_files(folder) if os.path.exists(os.path.join(folder, f))]  # (no broken link)
    last = os.path.join(folder, "last.pth")
    why = f"{printable(folder)} has no last.pth"
    if os.path.islink(last) and not os.path.exists(last):  # (a link to a file moved away, or a loop)
        why = f"{printable(last)} is a link to {printable(os.readlink(last))}, which leads to no file"
    if loose:  # e.g. a run stopped in its first epoch: interrupt.pth only
        return f"{why}; name one of its checkpoints: {paths_to_paste(folder, loose)}"
    runs = [f for f in sorted(list_folder(folder)) if os.path.isdir(os.path.join(folder, f, "checkpoints"))]
    if runs:  # logs_train itself
        return f"{printable(folder)} holds runs, not a checkpoint; name one: {paths_to_paste(folder, runs)}"
    return f"no checkpoint in {printable(folder)} (a run folder holds checkpoints/last.pth)"


def checkpoint_files(folder):
    """The .pth files directly in `folder`, last.pth first, then by name; hidden ones (macOS's ._ copies,
    partial writes) are none."""
    return sorted((f for f in list_folder(folder) if f.endswith(".pth") and not is_hidden(f)),
                  key=lambda f: (f != "last.pth", f))


def paths_to_paste(folder, names):
    """The first three of `names` in `folder` as paths a shell takes as they are (quoted where needed), then …"""
    more = ", …" if len(names) > 3 else ""
    return ", ".join(shell_word(printable(os.path.join(folder, f))) for f in names[:3]) + more


def check_crcs(path):
    """Raises zipfile.BadZipFile when a member of a zip file (torch.save's format) does not match
    its CRC-32: torch.load does not check them, and a flipped bit in a weight loads as another number;
    UserError for a zip that torch.save did not write."""
    if not zipfile.is_zipfile(path):  # (older torch.save files are no zip, and hold no CRCs)
        return
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        if not any(name.endswith("/data.pkl") for name in names):  # a zip of one's own (a download, zipped)
            raise UserError(f"{path} is a zip archive of {', '.join(names[:3]) or 'nothing'}"
                            f"{', …' if len(names) > 3 else ''}, not a checkpoint: unzip it and pass the file inside")
        if any(name.endswith("/constants.pkl") for name in names):  # torch.jit.save's: the network as code
            raise UserError(f"{path} is a TorchScript file (torch.jit.save), which holds code: save the network's "
                            "state_dict() instead")
        # torch.save stores each member as it is, once: members compressed, or entries sharing their bytes, would
        # have a file of a few MB checked here and loaded as terabytes (a zip bomb).
        if (any(info.compress_type != zipfile.ZIP_STORED for info in z.infolist())
                or sum(info.compress_size for info in z.infolist()) > os.path.getsize(path)):
            raise UserError(f"{path} is not a checkpoint torch.save wrote: its zip's members are compressed or "
                            "overlap")
        for info in z.infolist():
            if info.CRC == 0:  # saved without CRCs (torch's config.save.compute_crc32 = False)
                continue
            with z.open(info) as f:
                while f.read(1 << 20):  # zipfile compares the CRC-32 at the end of the member
                    pass


def unwrapped(key):
    """A state_dict key without the prefixes of DataParallel or DDP (module.) and torch.compile
    (_orig_mod.), in any order: torch.compile(DDP(model)) saves _orig_mod.module.model.0.weight. All at once:
    taken off one by one, a key of a million prefixes (7 MB) took minutes, each copying the rest of the key."""
    return re.sub(r"^(?:module\.|_orig_mod\.)+", "", key)


def read_checkpoint(path):
    """The checkpoint at `path` as a dict, never running code from it.

    Accepts this project's checkpoints, a bare state_dict (of a wrapped network too), the
    weights of a general checkpoint of one's own loop (and an ImageFolder's class_to_idx beside
    them), and the tutorial's whole-model pickles. Raises UserError with a one-line reason otherwise."""
    path = checkpoint_path(path)
    obj = load_safely(path)
    obj = in_project_form(obj, path)
    check_entries(obj, path)
    obj.setdefault("config", {})
    obj["path"] = path
    return obj


def checkpoint_path(path):
    """The file `path` names: a run folder's last.pth, or `path` itself. Said in one line when there is
    none, or when it is an image (the arguments swapped), before anything is read."""
    if os.path.isdir(path):
        folder = os.path.join(path, "checkpoints") if os.path.isdir(os.path.join(path, "checkpoints")) else path
        path = os.path.join(folder, "last.pth")
        if not os.path.isfile(path):
            raise UserError(no_checkpoint_in(folder))
    if not os.path.isfile(path):  # (a device or a pipe, /dev/null or /dev/stdin, is no checkpoint file either)
        raise UserError(f"checkpoint {path} {'is not a file' if os.path.exists(path) else 'not found'}")
    if is_image(path):  # e.g. test.py dog.png tudui_9.pth: the arguments swapped
        raise UserError(f"{path} is an image, not a checkpoint")
    return path


def load_safely(path):
    """What torch.load finds in the file, under weights_only=True and the tutorial's allowlist, so that
    nothing in it runs; a file that is no checkpoint (safetensors, a zip of one's own, TorchScript, a bit
    flipped, a pickle of other objects) is refused in one line, as what it is."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
        if head[8:10] == b'{"':  # safetensors: the length of a JSON header, then the header
            raise UserError(f"{path} is a safetensors file: read it with safetensors.torch.load_file(), then "
                            "torch.save() the state_dict it gives")
        # torch.save writes a zip, or (before PyTorch 1.6) pickles that begin with its magic number: text, JSON,
        # a TensorBoard file or a pickle.dump() of one's own is not read at all. (An empty file is cut short.)
        if head and not head.startswith(b"PK") and LEGACY_MAGIC not in head:
            raise UserError(f"{path} is not a checkpoint: not a file torch.save wrote")
        check_crcs(path)
        with torch.serialization.safe_globals(TUTORIAL_PICKLE_CLASSES), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. on sparse tensors, which check_entries refuses in its one line
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        reason = refusal_reason(e)
        if reason == "Unsupported operand 149":  # FRAME, which pickle protocols 4 and 5 write and the safe loader lacks
            raise UserError(f"cannot read {path} safely: it was saved with pickle_protocol 4 or higher, which "
                            "torch.load(weights_only=True) does not read; where it was made, save it again with "
                            "torch.save()'s default protocol") from None
        raise UserError(f"refusing to load {path}: it holds something other than weights ({reason})"
                        f"{refusal_hint(reason, zipped=head.startswith(b'PK'))}") from None
    except PermissionError as e:
        raise UserError(f"cannot read checkpoint {path}: {e.strerror}") from None
    except zipfile.BadZipFile as e:  # (a CRC-32 that does not match, among others)
        raise UserError(f"checkpoint {path} is truncated or corrupt ({e})") from None
    # A sound zip around a malformed pickle: the safe unpickler fails with any of the others.
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError,
            AssertionError, struct.error) as e:
        raise UserError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__})") from None
    return obj


def in_project_form(obj, path):
    """The loaded object as this project's checkpoint, a dict whose "model" is a state_dict with plain
    keys: the tutorial saves its network whole or its state_dict() alone, others' loops save theirs
    under "model_state_dict" or "state_dict", and wrapped networks' keys start with module. or _orig_mod."""
    if isinstance(obj, Tudui):  # tutorial: torch.save(model)
        try:  # nn.Module's own method: an attribute of the pickled object could stand in for it
            obj = {"model": nn.Module.state_dict(obj), "normalize": IDENTITY}  # (the tutorial's ToTensor() alone)
        except Exception as e:  # a pickle made by hand: its modules may hold anything the allowlist lets through
            raise UserError(f"{path} holds a Tudui that cannot be read ({type(e).__name__})") from None
    elif is_state_dict(obj) and obj:
        obj = {"model": obj}  # tutorial: torch.save(model.state_dict())
    elif isinstance(obj, dict) and "model" not in obj:  # PyTorch's recipe for a general checkpoint, and others'
        weights = next((obj[k] for k in ("model_state_dict", "state_dict") if is_state_dict(obj.get(k))), None)
        if weights:  # (their optimizer and epoch are another loop's)
            # An ImageFolder's class_to_idx, saved beside them as many transfer-learning projects do, names the outputs.
            names = {"class_to_idx": obj["class_to_idx"]} if "class_to_idx" in obj else {}
            obj = {"model": weights, **names}
    if not isinstance(obj, dict) or not is_state_dict(obj.get("model")):
        raise UserError(f"{path} is not a checkpoint of this project or of the tutorial")
    obj["model"] = {unwrapped(k): v for k, v in obj["model"].items()}
    return obj


def check_entries(obj, path):
    """Refuses an entry of the wrong type or shape (the rest of the code trusts them), and fills in
    what the tutorial's files lack: CIFAR-10's classes, and the normalization of ToTensor() alone."""
    for key, kind in ENTRY_TYPES.items():
        if key in obj and (not isinstance(obj[key], kind) or isinstance(obj[key], bool)
                           or (kind is int and not 0 <= obj[key] < 2**53)  # an epoch, step or batch
                           or (key == "best_val_accuracy" and not -1 <= obj[key] <= 1)):  # (-1: none yet; not NaN)
            raise UserError(f"{path} has a malformed {key!r} entry")
    if isinstance(obj.get("training_data"), dict) and obj["training_data"].keys() == {"images", "labels_sha256"}:
        del obj["training_data"]  # its first form (2026-11-27 00:26-00:43 UTC), of the labels alone: not compared
    if "training_data" in obj and not valid_training_data(obj["training_data"]):
        raise UserError(f"{path} has a malformed 'training_data' entry")
    if "epoch_sums" in obj and not valid_epoch_sums(obj["epoch_sums"]):
        raise UserError(f"{path} has a malformed 'epoch_sums' entry")
    if "classes" not in obj and "class_to_idx" in obj:  # ({"circle": 0, "cross": 1}: the names in output order)
        obj["classes"] = names_by_index(obj["class_to_idx"])
        if obj["classes"] is None:
            raise UserError(f"{path} has a malformed 'class_to_idx' entry: expected class names numbered 0, 1, …")
    if not all(isinstance(name, str) for name in obj.get("classes", [])):
        raise UserError(f"{path} has a malformed 'classes' entry")
    for k, v in obj["model"].items():
        # A number in the file for each weight, before shapes are counted: a sparse or meta tensor, or one expanded
        # from a single number (stride 0), takes any shape in a few bytes, and a network of that many classes
        # would be built.
        if v.layout != torch.strided or v.is_meta or v.numel() * v.element_size() > v.untyped_storage().nbytes():
            raise UserError(f"{path} holds {k} as a {tuple(v.shape)} tensor whose numbers are not all in the file "
                            "(sparse, on the meta device or expanded), not plain weights")
    outputs = classes_in(obj["model"])  # (None: shapes load_model names)
    if "classes" not in obj:  # the tutorial's checkpoints: CIFAR-10's classes; class_0, ... when not 10
        obj["classes"] = CIFAR10_CLASSES if outputs in (None, 10) else [f"class_{i}" for i in range(outputs)]
        obj["unnamed"] = True  # test.py takes a scored folder's names instead
    if not obj["classes"]:
        raise UserError(f"{path} has no classes")
    if outputs is not None and outputs != len(obj["classes"]):
        raise UserError(f"{path} names {len(obj['classes'])} classes, but its network has {outputs} outputs")
    if "normalize" not in obj:  # weights alone: the tutorial's, or a train.py network's saved in one's own way
        obj["normalize"], obj["weights_alone"] = IDENTITY, True  # no statistics saved: ToTensor()'s [0, 1]
    if not valid_normalize(obj["normalize"]):
        raise UserError(f"{path} has a malformed 'normalize' entry: expected 3 means, 3 positive stds and "
                        f"optionally a whitening filter of {NORMALIZE_SIZES['whiten']} numbers")


def names_by_index(class_to_idx):
    """An ImageFolder's class_to_idx as the list of its names, in the order of their numbers; None unless it
    maps names (strings) to the numbers 0 to n-1, each once."""
    if not isinstance(class_to_idx, dict) or not all(isinstance(name, str) and type(i) is int
                                                     for name, i in class_to_idx.items()):
        return None
    if sorted(class_to_idx.values()) != list(range(len(class_to_idx))):
        return None
    return sorted(class_to_idx, key=class_to_idx.get)


def refusal_reason(error):
    """What the safe loader refused, without PyTorch's advice around it (which suggests loading
    the file unsafely: the one thing not to do with a file from a stranger)."""
    text = str(error).split("WeightsUnpickler error:")[-1]
    # Line by line: torch 2.14 puts the reason in a paragraph of its own, 2.8 on the advice's next line.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("Weights only load failed", "Check the documentation"))]
    # "… was not an allowed global by default. Please use `torch.serialization.add_safe_globals([…])` …"
    return (kept or ["objects other than weights"])[0].split(" Please use")[0].rstrip(".")


def refusal_hint(reason, zipped):
    """What to do about a refused pickle that holds a network, as the refusal's reason tells it."""
    if reason.startswith("it calls"):  # (Uncallable): made by hand, not by torch.save
        return ""
    if "Tudui" in reason:  # the network of one's own package
        return "; a Tudui saved whole is read from model.Tudui or __main__.Tudui only: save its state_dict() instead"
    if "torch.nn.parallel" in reason:  # torch.save(nn.DataParallel(model))
        return "; a network wrapped in DataParallel or DDP and saved whole cannot be read safely: save " \
               "model.module.state_dict() instead"
    if "torch.nn.modules" in reason:  # another network
        return "; only the tutorial's network can be read (Conv2d, MaxPool2d, Flatten, Linear)"
    # torch.save(model, _use_new_zipfile_serialization=False), PyTorch < 1.6's format: not a zip (in a zip,
    # torch.save's persistent ids are all storages: one that is not was made by hand)
    if "persistent_load" in reason and not zipped:
        return "; a network saved whole in PyTorch's format of before 1.6 cannot be read safely: save its " \
               "state_dict() instead"
    return ""


def is_state_dict(weights):
    return isinstance(weights, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                             for k, v in weights.items())


def valid_training_data(data_id):
    """What runs.training_data_id makes, and a resume compares: an image count and a SHA-256 in hex."""
    return (data_id.keys() == {"images", "sha256"} and type(data_id["images"]) is int and data_id["images"] >= 0
            and isinstance(data_id["sha256"], str) and re.fullmatch("[0-9a-f]{64}", data_id["sha256"]) is not None)


def valid_epoch_sums(sums):
    """What train.train_one_epoch keeps: the epoch's training loss, right answers and images so far,
    finite and not negative."""
    return len(sums) == 3 and all(type(v) in (int, float) and 0 <= v <= FLOAT32.max for v in sums)


def valid_normalize(stats):
    if not isinstance(stats, dict) or not {"mean", "std"} <= stats.keys() <= NORMALIZE_SIZES.keys():
        return False
    for key, values in stats.items():  # numbers that float32, in which images are normalized, can hold
        if not (isinstance(values, (list, tuple)) and len(values) == NORMALIZE_SIZES[key]
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= FLOAT32.max
                        for v in values)):
            return False
    return min(stats["std"]) >= FLOAT32.tiny


def classes_in(state_dict):
    """The number of classes the weights are for: the first length of the weights whose shape depends on
    it (model.8.* in the tutorial's network, and wherever they lie in one's own edit of model.py); None
    where they are missing or disagree."""
    with torch.device("meta"):
        one, two = Tudui(1).state_dict(), Tudui(2).state_dict()
    sizes = {state_dict[k].shape[0] for k in one if one[k].shape != two[k].shape
             and isinstance(state_dict.get(k), torch.Tensor) and state_dict[k].dim() > 0}
    return sizes.pop() if len(sizes) == 1 else None


def load_model(ckpt, device="cpu"):
    """A Tudui with the checkpoint's weights; a clear error when they belong to another network."""
    # The shapes first, on the meta device (no memory): a file of a few MB naming millions of classes
    # would have the network built at gigabytes before its keys were found wrong.
    with torch.device("meta"):
        expected = Tudui(len(ckpt["classes"])).state_dict()
    found = ckpt["model"]  # (its keys unwrapped by read_checkpoint)
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        raise UserError(f"{ckpt['path']} is for another network: missing {missing[:3]}, unexpected {unexpected[:3]}")
    for k, v in expected.items():
        if found[k].shape != v.shape:
            raise UserError(f"{ckpt['path']} is for another network: {k} expected {tuple(v.shape)}, "
                            f"found {tuple(found[k].shape)}")
    for k, v in found.items():
        # Floats where the network has floats, or its own integers (an edited model.py's BatchNorm counts batches).
        # (Sparse, meta and expanded weights were refused as the file was read: check_entries.)
        plain = (v.is_floating_point() and expected[k].is_floating_point()) or v.dtype == expected[k].dtype
        if not plain:  # quantized, complex, integers where the network has floats, ...
            raise UserError(f"{ckpt['path']} holds {k} as a {v.dtype} tensor, not plain weights")
        # A diverged run's (float(): float8 has no isfinite of its own)
        if v.is_floating_point() and not torch.isfinite(v.float()).all():
            raise UserError(f"{ckpt['path']} holds weights that are not finite numbers (NaN or inf) in {k}")
    model = Tudui(len(ckpt["classes"]))
    model.load_state_dict(found)
    return model.to(device)


def optimizer_state_on_cpu(optimizer):
    """The optimizer's state_dict with its tensors on the CPU (the lr of CUDA graphs, a GPU tensor, as
    a number): a checkpoint saved on a GPU then loads with a plain torch.load where there is none. A
    resume moves the state to its own device and keeps its own lr (load_optimizer_state)."""
    saved = optimizer.state_dict()
    return {"state": {i: {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in entry.items()}
                      for i, entry in saved["state"].items()},
            "param_groups": [{k: v.item() if isinstance(v, torch.Tensor) else v for k, v in group.items()}
                             for group in saved["param_groups"]]}


def load_optimizer_state(optimizer, saved):
    """The saved state of each parameter (momentum buffers, AdamW's moments). The settings of
    its groups are this optimizer's: the run's own (checked with its other settings), and the
    device's (fused, capturable), so that a run saved on a GPU resumes on a CPU and the reverse."""
    try:
        groups = [{**saved_group, **{k: v for k, v in group.items() if k != "params"}}
                  for saved_group, group in zip(saved["param_groups"], optimizer.param_groups)]
        optimizer.load_state_dict({**saved, "param_groups": groups})
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:  # (lists nested thousands deep)
        raise UserError(f"the checkpoint's optimizer state does not fit this network "
                        f"({type(e).__name__}: {e})") from None
    # load_state_dict checks how many states there are, not what they hold.
    ids = [i for group in saved["param_groups"] for i in group["params"]]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, param in zip(ids, params):
        entry = saved["state"].get(i, {})
        for key, value in (entry.items() if isinstance(entry, dict) else [("state", entry)]):
            if not isinstance(entry, dict) or not state_fits(key, value, param.shape):
                what = f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor) else repr(value)[:40]
                raise UserError(f"the checkpoint's optimizer state does not fit this network ({key!r} of a "
                                f"{tuple(param.shape)} parameter holds {type(value).__name__} {what})")


def state_fits(key, value, shape):
    """Whether an entry of a parameter's optimizer state holds what SGD or AdamW keep there: a finite
    float tensor of the parameter's shape (SGD's momentum_buffer, which may be None; AdamW's exp_avg,
    exp_avg_sq), or AdamW's step count, a finite number or a 0-d tensor."""
    if key == "momentum_buffer" and value is None:
        return True
    if key == "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.isfinite(value)
    return isinstance(value, torch.Tensor) and value.is_floating_point() and \
        value.shape == (() if key == "step" else shape) and bool(torch.isfinite(value).all())


def remove_partial_writes(folder):
    """Removes what a process killed in the middle of a write left in `folder`. Only for the one
    process that writes there: another's file of that name may be its write in progress."""
    for name in list_folder(folder):
        if name.startswith(".tmp-"):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:  # not ours to remove: harmless where it is
                pass


def newest_readable(run_dir):
    """The checkpoint of `run_dir` with the most training steps among those that load; warns about the others."""
    folder = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(folder):
        loose = checkpoint_files(run_dir)
        if loose:  # a copy of a run's checkpoints, say: which one to continue from is the user's choice
            raise UserError(f"{printable(run_dir)} is not a run folder (no checkpoints/ in it); name one of its "
                            f"checkpoints: {paths_to_paste(run_dir, loose)}")
        raise UserError(no_checkpoint_in(run_dir))
    candidates = [os.path.join(folder, f) for f in sorted(checkpoint_files(folder))]  # (by name: the first of ties)
    if not candidates:  # as a run has before its first epoch ends
        raise UserError(f"no checkpoints in {printable(folder)}: the run stopped before its first epoch ended, or is "
                        "in it now; to start it again in its folder, give its command --run-name="
                        f"{shlex.quote(printable(os.path.basename(os.path.abspath(run_dir))))}")
    best = None
    for path in candidates:
        try:
            ckpt = read_checkpoint(path)
        except UserError as e:
            print(f"warning: {e}; skipping it", file=sys.stderr, flush=True)
            continue
        if best is None or ckpt.get("step", 0) > best.get("step", 0):
            best = ckpt
    if best is None:
        raise UserError(f"no readable checkpoint in {folder}")
    return best
