"""A run's folder: where it lies, claiming it for one train.py at a time, its checkpoints.

    logs_train/<run>/config.json                 the run's settings
    logs_train/<run>/events.out.tfevents.*       TensorBoard's
    logs_train/<run>/checkpoints/epoch_NNN.pth   one per epoch; last.pth (and best.pth with --val-split,
                                                 interrupt.pth after a Ctrl-C (or SIGTERM) inside an epoch)
    logs_train/<run>/.lock                       held by the train.py that trains there
"""
import errno
try:
    import fcntl  # POSIX; Windows has none, and runs there go without the run lock
except ImportError:
    fcntl = None
import hashlib
import json
import os
import sys

import torch

from checkpoint import (atomic_save, atomic_write, checkpoint_files, newest_readable, read_checkpoint,
                        remove_partial_writes)
from data import (CACHE_DIR, UserError, class_difference, is_hidden, is_utf8, list_folder, printable, say, shell_word,
                  split_holding)

TRAIN_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train.py")


def read_run_checkpoint(path):
    """The checkpoint to resume from: a file, or a run directory's newest readable one. It must hold a
    train.py run's state (weights, optimizer, epoch, step, settings), not weights only."""
    ckpt = newest_readable(path) if os.path.isdir(path) else read_checkpoint(path)
    if "optimizer" not in ckpt:
        raise UserError(f"{ckpt['path']} holds weights only; it cannot be resumed")
    if "epoch" not in ckpt or "step" not in ckpt or not ckpt["config"]:
        raise UserError(f"{ckpt['path']} is not a checkpoint of a train.py run (no epoch, step or settings); "
                        "it cannot be resumed")
    return ckpt


def read_resume(resume):
    """(what --resume names, the checkpoint to resume from, the stamps of the run's checkpoints), or
    Nones without --resume. The stamps are taken first: if they differ when the run folder is claimed,
    another train.py wrote there meanwhile (claim_run_dir)."""
    if resume is None:
        return None, None, None
    resume = resume_target(resume)
    stamps = checkpoint_stamps(resume)
    return resume, read_run_checkpoint(resume), stamps


def resume_target(path):
    """What --resume names: a checkpoint file or a run folder, that run's also when its checkpoints/
    folder is named (as test.py takes it)."""
    folder = os.path.abspath(path)  # (also "." inside checkpoints/)
    if os.path.basename(folder) == "checkpoints" and os.path.isdir(folder) and \
            not os.path.isdir(os.path.join(folder, "checkpoints")):
        return os.path.normpath(os.path.join(path, os.pardir))
    return path


def checkpoint_stamps(resume):
    """Size and time of each checkpoint in the folder that `resume` (a run or a checkpoint file)
    reads from: if they change before the run is claimed, another train.py wrote there."""
    folder = os.path.join(resume, "checkpoints") if os.path.isdir(resume) else os.path.dirname(os.path.abspath(resume))
    stamps = {}
    for name in list_folder(folder) if os.path.isdir(folder) else []:
        if name.endswith(".pth"):
            try:
                info = os.stat(os.path.join(folder, name))
                stamps[name] = (info.st_size, info.st_mtime_ns)
            except OSError:  # a broken link: newest_readable says so
                pass
    return stamps


def choose_run_dir(config, explicit, resume, resume_ckpt):
    """(run directory, whether the run starts there) under --log-dir and --run-name, or, resumed,
    the folder its checkpoint lies in; never one that holds another run."""
    if resume_ckpt is None:
        run_dir, new_run = os.path.join(config["log_dir"], config["run_name"]), True
    else:
        run_dir, new_run = resumed_run_dir(resume, resume_ckpt, config, explicit)
    if not is_utf8(run_dir):  # a resumed run's folder, named on another system
        raise UserError(f"{printable(run_dir)}: TensorBoard cannot write under a name that is not UTF-8; rename it")
    for path in (run_dir, CACHE_DIR):  # (both under the folder train.py runs in, by default)
        split = split_holding(path, config["data_dir"])
        if split:  # (a class folder of its own, or files in one: a class, or images, of the dataset)
            fix = "run it from a folder outside it (data/cache is made where train.py runs)" if path == CACHE_DIR \
                else f"run it from elsewhere, with a --log-dir outside {printable(split)}"
            raise UserError(f"{printable(path)} would lie inside {printable(split)}, where train.py's files would be "
                            f"taken for the dataset's; {fix}")
    blocked = file_in_the_way(run_dir) if new_run else None
    if blocked and blocked != run_dir:  # the default logs_train: a given --log-dir is a flag error
        raise UserError(f"{not_a_folder(blocked)}, where runs go (--log-dir); pass another --log-dir")
    if new_run and "run_name" not in explicit:  # a time-stamped name: if taken, claim_run_dir adds a suffix
        return run_dir, new_run
    if blocked:
        raise UserError(f"{not_a_folder(run_dir)}; pass another --run-name")
    if new_run and holds_checkpoints(run_dir):
        raise already_holds_a_run(run_dir)
    # A run that stopped before its first checkpoint leaves an empty checkpoints/ (its TensorBoard
    # points are purged when it starts again: train.open_writer). Anything else there is kept.
    if new_run and os.path.isdir(run_dir) and [f for f in list_folder(run_dir) if not is_hidden(f)] and \
            not os.path.isdir(os.path.join(run_dir, "checkpoints")):
        raise UserError(f"{run_dir} already holds files (a run's, without checkpoints/); pass another --run-name")
    return run_dir, new_run


def file_in_the_way(path):
    """The file, or link to nothing, that stands where the folder `path`, or one above it, would be made;
    None if none does."""
    existing = path
    while existing and not os.path.lexists(existing):  # the first name on the way up that is there
        existing = os.path.dirname(existing)
    return existing if existing and not os.path.isdir(existing) else None


def not_a_folder(path):
    """Why `path`, which file_in_the_way found, is no folder: for its one line."""
    if os.path.islink(path) and not os.path.exists(path):  # a folder on a drive not mounted, say
        return f"{path} is a link to {printable(os.readlink(path))}, which leads to no folder"
    return f"{path} is a file, not a folder"


def resumed_run_dir(resume, ckpt, config, explicit):
    """(run directory, whether it is a new one) for a resumed run: where its checkpoint lies, wherever
    the run was moved; or, with --run-name, a new run that branches off at the checkpoint, beside
    it unless --log-dir says where. A checkpoint file of its own, outside a run's checkpoints/,
    starts a new run under --log-dir. Going on in place from an earlier epoch would overwrite the
    later ones: refused."""
    folder = os.path.dirname(os.path.abspath(ckpt["path"]))
    own_dir = os.path.dirname(folder)
    own_dir = below_here(own_dir)  # as the user would write it, in messages and config.json
    # A run's folder: its config.json says so, or --resume named it (its config.json lost).
    named = os.path.isdir(resume) and os.path.samefile(resume, own_dir)
    if os.path.basename(folder) != "checkpoints" or not (is_run_dir(own_dir) or named):
        return os.path.join(config["log_dir"], config["run_name"]), True
    if "run_name" in explicit:
        named_dir = os.path.join(explicit.get("log_dir", os.path.dirname(own_dir)), explicit["run_name"])
        if os.path.abspath(named_dir) != os.path.abspath(own_dir):
            return named_dir, True
    elif "log_dir" in explicit:
        raise UserError(f"--log-dir needs --run-name NEW when resuming: the run goes on in its own folder, {own_dir}")
    later = os.path.isfile(resume) and checkpoint_past(own_dir, ckpt)
    if later:  # (an interrupt.pth is not overwritten, but a resume of the run would go on from it, not from here)
        fate = "a later resume of the run would go on from" if later.endswith("interrupt.pth") else \
            "continuing in place would overwrite"
        raise UserError(f"{own_dir} goes on past {ckpt['path']}: {fate} {later}; pass --run-name NEW to continue "
                        "from it in a new run")
    return own_dir, False


def checkpoint_past(run_dir, ckpt):
    """A checkpoint of the run trained further than `ckpt`, if any: epoch_NNN.pth after it, and also
    last.pth or interrupt.pth when those epochs were deleted (README says to delete the ones not needed)."""
    later = epoch_checkpoint(run_dir, ckpt["epoch"] + 1)
    if os.path.exists(later):
        return later
    for name in ("last.pth", "interrupt.pth"):
        path = os.path.join(run_dir, "checkpoints", name)
        if os.path.isfile(path) and not os.path.samefile(path, ckpt["path"]):
            try:
                if read_checkpoint(path).get("step", 0) > ckpt["step"]:
                    return path
            except UserError:  # (one that cannot be read is not compared)
                pass
    return None


def below_here(path):
    """`path` relative to the working directory when it lies below it, else absolute (the working
    directory itself too: its name says more than "." and a branch goes beside it, not inside)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # on another drive (Windows)
        return os.path.abspath(path)
    return os.path.abspath(path) if rel == os.curdir or rel.split(os.sep)[0] == os.pardir else rel


def is_run_dir(path):
    """Whether `path` is a train.py run's folder (its config.json says so), not some folder that
    happens to hold a checkpoints/ folder."""
    try:
        with open(os.path.join(path, "config.json")) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and {"epochs", "lr", "run_name"} <= saved.keys()


def claim_run_dir(run_dir, new_run, named, stamps):
    """Makes the run's folder this process's own for as long as it lives, so that a second train.py
    on the same run stops at once instead of overwriting its checkpoints. A time-stamped default
    name that a run started in the same second took gets a suffix. Returns the folder and the
    open lock file (None where the folder cannot be locked)."""
    base, n = run_dir, 1
    try:
        # Outside the loop: a --log-dir that is a file (/dev/null) raises FileExistsError too, for ever.
        os.makedirs(os.path.dirname(run_dir) or ".", exist_ok=True)
        while new_run and not named:
            try:
                os.mkdir(run_dir)  # exclusive: of two runs, one gets the name and the other the next
                break
            except FileExistsError:
                n += 1
                run_dir = f"{base}_{n}"
        restarted = new_run and os.path.isdir(os.path.join(run_dir, "checkpoints"))
        os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
        lock = open(os.path.join(run_dir, ".lock"), "a")
    except FileExistsError as e:  # from makedirs: a file where a folder should be (--log-dir /dev/null)
        raise UserError(f"could not create {run_dir}: {e.filename} is a file, not a folder") from None
    except OSError as e:
        raise UserError(f"could not create {run_dir}: {e.strerror or e}", code=1) from None
    try:
        if fcntl:
            # lockf: the system lets go of it when the process ends, even by kill -9, and the data
            # loader's worker processes do not inherit it (flock's would outlive the kill with them).
            fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        lock.close()
        if e.errno in (errno.EACCES, errno.EAGAIN):
            raise UserError(f"another train.py is training in {run_dir} now; let it finish, or pass another "
                            "--run-name") from None
        print(f"note: {run_dir} cannot be locked here ({e.strerror}): a second train.py on it would not be "
              "stopped", file=sys.stderr, flush=True)
        lock = None
    # What another train.py may have done between this one's start and its lock:
    if new_run and holds_checkpoints(run_dir):
        error = already_holds_a_run(run_dir)
    elif not new_run and checkpoint_stamps(run_dir) != stamps:
        error = UserError(f"{run_dir} was trained on by another train.py while this one started; resume it again")
    else:
        error = None
    if error:
        if lock:
            lock.close()
        raise error
    if restarted:  # what a run that stopped before its first checkpoint leaves: an empty checkpoints/
        print(f"note: {run_dir} holds no checkpoint (its run stopped in its first epoch); starting it again",
              file=sys.stderr, flush=True)
    remove_partial_writes(os.path.join(run_dir, "checkpoints"))
    return run_dir, lock


def already_holds_a_run(run_dir):
    return UserError(f"{run_dir} already holds a run; pass --resume {shell_word(run_dir)} or another --run-name")


def holds_checkpoints(run_dir):
    """Whether a run saved a checkpoint there: one that --resume would take (macOS's ._last.pth alone is
    none: otherwise --run-name would send the user to --resume, and --resume back to --run-name)."""
    folder = os.path.join(run_dir, "checkpoints")
    return os.path.isdir(folder) and bool(checkpoint_files(folder))


def write_config(run_dir, config):
    atomic_write(os.path.join(run_dir, "config.json"), lambda f: f.write(json.dumps(config, indent=2).encode()))


def save_checkpoints(run_dir, ckpt, best):
    # best.pth first: last.pth carries the best validation accuracy so far, and a resume after a write
    # that failed (a full disk, kill -9) must not find it counted while best.pth still holds an older epoch.
    folder = os.path.join(run_dir, "checkpoints")
    if best:
        atomic_save(ckpt, os.path.join(folder, "best.pth"))
    atomic_save(ckpt, epoch_checkpoint(run_dir, ckpt["epoch"]))
    atomic_save(ckpt, os.path.join(folder, "last.pth"))


def epoch_checkpoint(run_dir, epoch):
    return os.path.join(run_dir, "checkpoints", f"epoch_{epoch:03d}.pth")


def resume_command(run_dir, world):
    """The command that continues this run, launched as this one was, ready to paste here: train.py
    named by its whole path when it is not below the working directory."""
    script = os.path.relpath(TRAIN_PY)
    resume = f"{shell_word(script if not script.startswith(os.pardir) else TRAIN_PY)} --resume {shell_word(run_dir)}"
    if world == 1:
        return f"python {resume}"
    if os.environ.get("LOCAL_WORLD_SIZE") == str(world):
        return f"torchrun --nproc_per_node={world} {resume}"
    return f"your torchrun command on each node, with {resume}"


def training_data_id(train, split_dir):
    """The training split as found, before any images are held out: its size and a hash of its
    labels and (image folders) file names, in order. A resumed run compares it with its checkpoint's."""
    h = hashlib.sha256(train.labels.cpu().to(torch.int64).numpy().tobytes())
    for path in train.files or []:  # (CIFAR-10 has no files: its labels stand for it)
        h.update(os.fsencode(os.path.relpath(path, split_dir)) + b"\0")
    return {"images": len(train), "sha256": h.hexdigest()}


def check_every_process_found_the_same(ids, data_dir):
    """Under torchrun the other processes list the data after process 0 has read it: a folder that
    changed in between would have them train on other images, and fail later in a collective call
    (gloo: "collective mismatch", a traceback from each; NCCL might wait until the timeout)."""
    if any(found != ids[0] for found in ids):
        counts = [found["images"] for found in ids]
        seen = f"{counts[0]} training images in each, other files" if len(set(counts)) == 1 else \
            "training images found: " + ", ".join(f"{n} by process {rank}" for rank, n in enumerate(counts))
        raise UserError(f"the training images in {printable(data_dir)} changed while the processes read them, one "
                        f"after another ({seen}); start the run again")


def check_same_data(resume_ckpt, classes, found, config):
    """The resumed run's classes, and its training split as it was. Images added, removed, renamed
    or newly unreadable since the checkpoint (or another --data-path where some are unreadable: the
    streamed split counts them): with --val-split the held-out images would be drawn anew, among
    those trained on, so the run is refused; else a warning."""
    if resume_ckpt["classes"] != classes:
        raise UserError("the data's classes differ from the resumed run's: "
                        f"{class_difference(classes, resume_ckpt['classes'], 'the data', 'the run')}")
    saved = resume_ckpt.get("training_data")
    if saved is None and config["val_split"]:  # (versions before 2026-11-27 00:43 UTC recorded none, or another form)
        say(f"warning: {resume_ckpt['path']} was saved by a version of train.py that did not record its training "
            "data as it does now: if the training split has changed since, its --val-split images are drawn anew, "
            "among images it has trained on, and this cannot be checked")
    if saved is None or saved == found:
        return
    change = f"the training split has changed since the checkpoint was saved ({saved['images']} images then, " + \
             f"{found['images']} now" + (", other files)" if saved["images"] == found["images"] else ")")
    if config["val_split"]:
        raise UserError(f"{change}: its --val-split images would be drawn anew, among images it has trained on; "
                        "start a new run, or resume on the data as it was")
    say(f"warning: {change}; the run goes on with the data as it is now")
