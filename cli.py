"""The checks of command-line values that train.py, test.py and bench.py share: a value a user
can get wrong (a negative --lr, an unset shell variable, a --log-dir that is a file) is refused
in one line, with exit code 2, before any data loads. And how test.py and bench.py end when
something goes wrong later: one line too."""
import argparse
import contextlib
import math
import os
import sys

import interrupt
import runs
from checkpoint import is_stream
from data import UserError, is_utf8


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the whole usage text
        self.exit(2, f"{self.prog}: error: {interrupt.on_one_line(message)} (see --help)\n")


def checked(kind, *, above=None, at_least=None, at_most=math.inf, below=None):
    """An argparse type: a `kind` within its bounds, a lower one (`above` or `at_least`) and, if given,
    an upper one (`at_most` or `below`)."""
    low, strict = (above, True) if above is not None else (at_least, False)
    high, high_strict = (below, True) if below is not None else (at_most, False)

    def short(bound):
        return f"{bound:.6g}" if isinstance(bound, float) else bound

    def parse(text):
        try:
            value = kind(text)  # takes surrounding whitespace ("\n-1"), which the messages below leave out
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if kind is float and not math.isfinite(value):  # (a 400-digit int is finite, and too large for a float)
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text.strip()}")
        if value < low or (strict and value == low):
            # (--lr's bound is float32's smallest normal number, 1.2e-38: "> 0" says it to whoever types -1)
            bound = "> 0" if value <= 0 < low else f"{'>' if strict else '>='} {short(low)}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text.strip()}")
        if value > high or (high_strict and value == high):
            bound = f"{'<' if high_strict else '<='} {short(high)}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text.strip()}")
        return value
    return parse


def folder_name(text):
    """An argparse type: the name of one folder, which --log-dir holds (an empty --run-name from an
    unset shell variable would put the run in --log-dir itself, and the next runs inside it;
    "../x" or "/x" would put it elsewhere)."""
    if text.strip() in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"must name a folder, got {text!r}")
    if "/" in text or os.sep in text or (os.altsep and os.altsep in text):
        raise argparse.ArgumentTypeError(f"must be a folder name, not a path (--log-dir says where runs go), "
                                         f"got {text!r}")
    if text != text.strip():  # "r1 " beside r1: two runs that look like one
        raise argparse.ArgumentTypeError(f"must not begin or end with whitespace, got {text!r}")
    return utf8_path(text)


def utf8_path(text):
    """An argparse type: a path TensorBoard can write its files under."""
    if not is_utf8(text):
        raise argparse.ArgumentTypeError(f"must be UTF-8 (TensorBoard writes it in its files), got {text!r}")
    return text


def folder_path(text):
    """An argparse type: a path that is not empty ("$DATA" unset must not pass for the current folder,
    or for no flag at all)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a folder, got {text!r}")
    return text


def log_folder(text):
    """An argparse type: --log-dir, a folder or one to be made, not a file nor inside one (said before the
    data loads, not at the run folder's making)."""
    blocked = runs.file_in_the_way(utf8_path(folder_path(text)))
    if blocked:
        raise argparse.ArgumentTypeError(runs.not_a_folder(blocked))
    return text


def named_path(text):
    """An argparse type: a path that is not empty (an unset shell variable must not pass for no --resume)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a checkpoint or a run folder, got {text!r}")
    return text


def output_file(path):
    """An argparse type: a path checkpoint.atomic_write can write to (named, not a folder, in a folder that
    exists), known when the command starts rather than after minutes of work."""
    if not path.strip() or path.endswith(os.sep) or os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"must name a file, got {path!r}")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"{folder} is not a folder" if os.path.exists(folder)
                                         else f"folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) and not is_stream(path):  # (a read-only file system, even for root)
        raise argparse.ArgumentTypeError(f"cannot write in folder {folder}")
    if len(os.fsencode(os.path.basename(path))) > 255:  # the limit of nearly every file system
        raise argparse.ArgumentTypeError(f"file name too long (over 255 bytes): {os.path.basename(path)[:40]}…")
    return path


def keep_others_file(parser, flag, path, written_here, what, note=""):
    """A file at `path` that this project did not write (`written_here(path)` says whether it did) is
    never replaced: an image, a checkpoint or a dataset's file named by mistake. One line, exit 2."""
    if os.path.isfile(path) and not is_stream(path) and not written_here(path):
        parser.error(f"argument {flag}: {path} exists and is not {what}{note}; name a new file (or delete it)")


@contextlib.contextmanager
def errors_in_one_line(script):
    """test.py's and bench.py's run(), inside interrupt.taken_over(): what main() meets that the user can fix or
    that fails it, one line and an exit code, never a traceback; Ctrl-C, SIGTERM and SIGHUP too (stopped)."""
    interrupt.unwind_on_termination()
    try:
        yield
        interrupt.flush_output()
    except UserError as e:
        print(f"{script}: error: {interrupt.on_one_line(str(e))}", file=sys.stderr)
        sys.exit(e.code)
    except (KeyboardInterrupt, BrokenPipeError) as e:  # nothing is half written: files are written atomically
        interrupt.stopped(script, e)
    except OSError as e:  # stdout on a full disk (> results.txt), say
        interrupt.failed(script, e)
    except RuntimeError as e:  # torch.OutOfMemoryError among them
        if not interrupt.gpu_memory_full(e):
            raise
        interrupt.out_of_memory(script, e, "run it with --device cpu")
