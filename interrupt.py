"""Ctrl-C in the first second or two of train.py, test.py or bench.py, while torch loads: one
line and exit 130, not a traceback through importlib; a requirement not installed, a torch or Pillow
older than requirements.txt asks for (a tensorboard where it fails to load), or a torchvision made for
another torch: one line and exit 1. Each script imports this module before anything else, and its
run() works inside taken_over(); test.py's and bench.py's run() end in stopped() or output_closed() when
Ctrl-C (or SIGTERM, or SIGHUP) stops them later, or what they print to has stopped reading (train.py's
says how it stopped itself); run_as_script() lets a second Ctrl-C end the exit at once, without a
traceback, and has decoding workers start by fork on Linux."""
import contextlib
import functools
import importlib.util
import multiprocessing
import os
import re
import signal
import stat
import sys
import traceback
import unicodedata

MAIN = getattr(sys.modules["__main__"], "__file__", None)  # None in a notebook
SCRIPTS = ("train.py", "test.py", "bench.py")
HANGUP = getattr(signal, "SIGHUP", None)  # (none on Windows)
HOW = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", HANGUP: "hung up"}  # how a signal stopped a script
REQUIREMENTS = ("torch", "torchvision", "tensorboard", "tqdm", "PIL", "numpy")  # what the scripts import
# The oldest versions that work, as requirements.txt asks for them (a test holds the two the same). An older torch
# or Pillow stops the scripts as they start; an older tensorboard only where it fails to load (under NumPy 1 it works).
OLDEST = {"torch": "2.8", "Pillow": "10.1", "tensorboard": "2.17.1"}


def speaks():
    """Whether this process prints notes and stops: under torchrun, where every process loads the
    data and gets the Ctrl-C, process 0 alone (a RANK left in the environment by something else
    silences nothing: test.py never runs under torchrun)."""
    return os.environ.get("RANK", "0") == "0" or "TORCHELASTIC_RUN_ID" not in os.environ


def exit_at_once(*_):
    # At once: nothing has started yet, and an exception could be caught inside some import.
    if speaks():
        print(f"{os.path.basename(MAIN)}: interrupted", file=sys.stderr, flush=True)
    os._exit(130)


@contextlib.contextmanager
def taken_over():
    """Within it, Ctrl-C is a KeyboardInterrupt, which run() reports (or train.py's handler turns
    into a checkpoint, as it does SIGTERM and SIGHUP); after it, Ctrl-C, SIGTERM and SIGHUP do what
    they did before (a program that calls run() keeps its own handlers)."""
    previous = {signal.SIGTERM: signal.getsignal(signal.SIGTERM),
                signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}
    if hasattr(signal, "SIGHUP"):  # (not on Windows)
        previous[signal.SIGHUP] = signal.getsignal(signal.SIGHUP)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # (None: a handler set outside Python, which cannot be set back)
                signal.signal(signum, handler)


def output_closed():
    """Output piped into `head` and the like, which has its lines and has gone: exit 1, not a
    BrokenPipeError traceback. A stdout that still takes what it holds is left as it is: the error was
    elsewhere (TensorBoard's log on a full disk), and a program that called run() goes on printing to it."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):  # closed, full, or None (started with it closed, >&-)
        try:  # what is left unwritten goes nowhere, or the exit's own flush fails again
            fd = sys.stdout.fileno()  # (first: a stdout that is no file leaves no /dev/null open)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # stdout no file, closed or None: nothing to flush
            pass
    sys.exit(1)


def quiet_terminal():
    """After SIGHUP, the terminal has gone and writing to it fails (EIO): stdout and stderr, where they are a
    terminal, write to /dev/null from here on (a file or pipe they are redirected to keeps its lines; a
    terminal still there, after a SIGHUP sent by hand, loses them too)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        try:
            if stat.S_ISCHR(os.fstat(fd).st_mode):
                os.dup2(devnull, fd)
        except OSError:  # (closed: nothing to quiet)
            pass
    os.close(devnull)


def flush_output():
    """Flushes stdout inside run(), where a closed pipe (| head) or a full disk (> log) is caught, not
    in the exit's own flush. (No stdout at all when the script was started with it closed, >&-.)"""
    if sys.stdout:
        sys.stdout.flush()


def on_one_line(message):
    """An error `message` as one line: a newline, a tab or another control character in it (a file's name
    holds any but / and NUL) written as Python escapes it (\\n, \\x1b), so that the line is not split and a
    name cannot send the terminal its escape sequences."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in message)


def failed(script, e, note=""):
    """An OSError that reached run(), such as stdout on a full disk (> log): one line, exit 1."""
    # (a name as bytes, as TensorBoard's writer gives it, or as text; printed as text either way)
    where = f" ({os.fsencode(e.filename).decode(errors='replace')})" if isinstance(e.filename, (str, bytes)) else ""
    print(on_one_line(f"{script}: error: {e.strerror or e}{where}{note}"), file=sys.stderr)
    output_closed()


# The GPU's memory full where torch's allocator is not what asks for it (a RuntimeError, not an OutOfMemoryError):
# CUDA starting in this process while another program holds the memory, cuBLAS or cuDNN making their handles.
MEMORY_FULL_ELSEWHERE = re.compile(r"CUDA error: out of memory|CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED")


def gpu_memory_full(e):
    return type(e).__name__ == "OutOfMemoryError" or bool(MEMORY_FULL_ELSEWHERE.search(str(e)))


def out_of_memory(script, e, otherwise):
    """A CUDA GPU's memory full (a batch too large, or another program using it): one line, exit 1. Of
    torch.OutOfMemoryError's message, the first sentences: what was asked for and what is free; of another
    error, its first line."""
    if type(e).__name__ == "OutOfMemoryError":
        said = " ".join(re.split(r"(?<=\.)\s+", str(e).strip())[:3])
    else:
        said = f"the GPU's memory is full ({str(e).strip().splitlines()[0]})."
    print(f"{script}: error: {said} Free the GPU's memory (nvidia-smi lists what uses it) or {otherwise}.",
          file=sys.stderr)
    sys.exit(1)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where it lands as Ctrl-C's KeyboardInterrupt is (unwind_on_termination)."""


def unwind_on_termination():
    """Within taken_over() (test.py's and bench.py's cli.errors_in_one_line): SIGTERM (`kill`, `timeout`) and
    SIGHUP (the terminal closed) unwind the program as Ctrl-C does, rather than end it at once, so that it removes
    its temporary files (bench.py's cold cache, 180 MB for CIFAR-10, was left in the system's temporary folder).
    A SIGHUP that nohup ignores stays ignored."""
    def raise_terminated(signum, _):
        # Sent to the whole process group (`timeout`, a closed terminal), it kills the decoding workers that are not
        # shielded (data.decode_all's), and torch's handler of their deaths would raise its own error over this one.
        forget_worker_deaths()
        raise Terminated(signum)
    for signum in (signal.SIGTERM, HANGUP):
        if signum and signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, raise_terminated)


def forget_worker_deaths():
    """Let go of torch's SIGCHLD handler, which raises an error of its own when a decoding worker dies: for a
    program that is ending anyway (not put back). (No SIGCHLD on Windows.)"""
    if hasattr(signal, "SIGCHLD"):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def stopped(script, reason):
    """The end of test.py or bench.py stopped by Ctrl-C (a KeyboardInterrupt: one line, exit 130; SIGTERM's
    and SIGHUP's Terminated: 143 and 129, as if the signal had killed it) or by a reader that has gone (a
    BrokenPipeError: output_closed)."""
    if isinstance(reason, BrokenPipeError):
        output_closed()
    signum = reason.args[0] if isinstance(reason, Terminated) else signal.SIGINT
    if signum == HANGUP:  # the terminal has gone: what is written to it would fail
        quiet_terminal()
    print(f"{script}: {HOW[signum]}", file=sys.stderr)
    sys.exit(128 + signum)


def run_as_script(run, skip_shutdown=False):
    """run(), then the exit, which a Ctrl-C ends at once and quietly: run() has said how it ended, and
    the exit waits for the decoding processes to shut down (a second or so; for good, where one
    hangs on a file), which a KeyboardInterrupt would cut short with a traceback. So does one in
    run()'s own clean-up, as torchrun's processes part. Called in each script's __main__ block: a
    program that calls run() keeps its own Ctrl-C, and its own way of starting processes
    (fork_workers_on_linux). With `skip_shutdown`, the process ends as run() does, with its exit code,
    and Python's own shutdown is skipped (train.py under torchrun)."""
    # A name its encoding cannot write (a class 猫 into a Windows file, cp1252): escaped, not fatal. (No
    # reconfigure where stdout is no text file: a notebook's, under %run.)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    fork_workers_on_linux()
    code = 0
    try:
        try:
            run()
        finally:  # from here on, a Ctrl-C ends the exit at once and quietly
            signal.signal(signal.SIGINT, exit_now)
    except KeyboardInterrupt:
        exit_now()
    except SystemExit as e:
        if not skip_shutdown:
            raise
        code = e.code or 0  # (run() exits with numbers only)
    if skip_shutdown:
        # Past the except clause, the exception and with it run()'s frames are let go: what they held shuts down
        # here, as Python's exit would have shut it down (decoding processes, which would outlive a stopped run).
        exit_now(code=code)


def fork_workers_on_linux():
    """Decoding workers start by fork on Linux, as Python started them there until 3.14. Its default there,
    forkserver, forks them from a server process of its own, whose signals they take, not the script's: a
    terminal's Ctrl-C or hang-up, or `timeout`'s SIGTERM to the group, killed them, and train.py could lose its
    stop (data.workers_leave_stops_to_us blocks those signals in the workers it forks itself); and a script
    killed before it ended them left them and the server waiting for each other for ever (a worker ends when
    its parent process does). Elsewhere (macOS, Windows) the system's own, spawn; a program that calls run()
    keeps the method it chose."""
    if sys.platform.startswith("linux") and multiprocessing.get_start_method(allow_none=True) is None:
        multiprocessing.set_start_method("fork")


def exit_now(*_, code=130):
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # (None: started with it closed, >&-)
                stream.flush()
        except (OSError, ValueError):  # (a closed pipe, a closed file)
            pass
    os._exit(code)


def broken_install(exc_type, exc, tb, report):
    """sys.excepthook of the scripts: an exception that says the install is broken is one line (exit
    1, as for any exception that ends a script), any other goes to `report`, the hook before."""
    said = install_problem(exc, tb)
    if said is None:
        report(exc_type, exc, tb)
    elif speaks():
        print(f"{os.path.basename(MAIN)}: error: {said}", file=sys.stderr)


def install_problem(exc, tb):
    """What is wrong with the install, where `exc` comes of one: a requirement missing (its import
    fails with ModuleNotFoundError), torchvision's own code failing as it loads, as one made for
    another torch does ("operator torchvision::nms does not exist"), or that of a tensorboard older than
    OLDEST's (before 2.17.1, under NumPy 2: "`np.string_` was removed"); None for any other exception (an
    ImportError of a broken Pillow that torchvision imports, say, keeps its traceback)."""
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").partition(".")[0] in REQUIREMENTS:
        return f"{exc}: install the requirements (pip install -r requirements.txt)"
    if isinstance(exc, ImportError):
        return None
    loading = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(tb) if frame.f_code.co_name == "<module>"]

    def failed_loading(package):
        folders = [os.path.join(os.path.abspath(folder), "") for folder in package_folders(package)]
        return any(os.path.abspath(name).startswith(folder) for name in loading for folder in folders)
    if failed_loading("torchvision"):
        torch = sys.modules.get("torch")
        return (f"torchvision could not be loaded ({type(exc).__name__}: {exc}): it must be the version made for "
                f"the torch installed ({getattr(torch, '__version__', 'unknown')}); "
                "pip install --upgrade torch torchvision installs a pair made for each other")
    if failed_loading("tensorboard") and (old := older_than_required("tensorboard")):
        return (f"tensorboard {old} could not be loaded ({type(exc).__name__}: {exc}), and this project needs "
                f"{OLDEST['tensorboard']} or later: install the requirements (pip install -r requirements.txt)")
    return None


def older_than_required(package):
    """The installed version of `package` where it is older than OLDEST's; None where it is not, or has no
    version to read (not installed: its import says so). Read from its metadata, without loading it."""
    import importlib.metadata  # here, once Ctrl-C is one line: it takes 10 ms to import
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    # "2.14.1+cu130" as [2, 14, 1]: lists compare number by number (2.10 is not older than 2.8)
    have, need = ([int(n) for n in re.match(r"[\d.]*", v)[0].split(".") if n] for v in (version, OLDEST[package]))
    return version if have and have < need else None


def package_folders(name):
    """Where the installed package `name` lies (found, not imported); none when it cannot be found."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    return list(spec.submodule_search_locations or []) if spec else []


def started_as_a_script():
    """One of SCRIPTS is running (through a link, too), not a test, a notebook or a program of
    one's own that imports them, whose Ctrl-C stays its own."""
    if not MAIN:
        return False
    script = os.path.realpath(MAIN)
    here = os.path.dirname(os.path.realpath(__file__))
    return os.path.basename(script) in SCRIPTS and os.path.dirname(script) == here


if started_as_a_script():
    signal.signal(signal.SIGINT, exit_at_once)
    sys.excepthook = functools.partial(broken_install, report=sys.excepthook)
    # Older ones fail in ways that point elsewhere, or not at all (tried, 2026-11-29): torch 2.4.1 called the
    # tutorial's checkpoints "truncated or corrupt", 1.13.1 ended in a traceback of its TensorBoard's missing
    # `six`; under Pillow 9.0.1 (Ubuntu 22.04's) torch's TensorBoard failed to draw a picture, and before 10.0
    # phone photos were left on their side.
    for package in ("torch", "Pillow"):
        if old := older_than_required(package):
            if speaks():
                print(f"{os.path.basename(MAIN)}: error: {package} {old} is installed, and this project needs "
                      f"{OLDEST[package]} or later: install the requirements (pip install -r requirements.txt)",
                      file=sys.stderr)
            sys.exit(1)
