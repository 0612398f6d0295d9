"""A run folder's files, safe against kills at any byte, full disks and a second process.

- `atomic_write`: every file that is rewritten (checkpoints, config.yaml, metrics.jsonl on resume, the evaluation
  report) goes through a temporary file in the same folder, fsync and `os.replace`, so a reader sees the old
  file or the new one, never a mix or a truncated one.
- `RunLock`: an exclusive `fcntl.flock` on `<run>/.lock`, held for a run's life; a second process on the same
  folder fails at once with a one-line message naming the holder's pid.
- `read_metrics`: metrics.jsonl as written up to a crash: a partial last line (a kill or a full disk in the
  middle of it) is dropped with a warning; damage anywhere else is an error naming the line.
- `claim_fresh`: a new run starts only in an empty folder (or, with overwrite, one holding just an earlier
  run's own files).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from snail.config import ConfigError

LOCK_FILE = ".lock"
# What a run writes into its folder (evaluate.py adds its report and pictures): overwrite=true removes these.
RUN_OUTPUTS = ("config.yaml", "metrics.jsonl", "last.pt", "best.pt", "tb", ".hydra", "evaluation.json",
               "evaluation.md", "maze_paths.png", "maze_paths.gif", "attention.png")
# What a run that never started may leave (the lock, Hydra's log, its record): a new run may start beside them.
LEFTOVERS = (LOCK_FILE, "train.log", ".hydra")
TMP_SUFFIX = ".tmp"


class RunFolderError(ConfigError):
    """A run folder that cannot be used as asked (in use, not empty, not a run): one line the user can act on."""


class RunBusyError(RunFolderError):
    """Another process holds the run folder's lock."""


def fsync_dir(path: str | Path) -> None:
    """Make a rename or a new file in folder `path` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_name(path: Path) -> Path:
    """A temporary name beside `path`, unique to this writer: `.<name>.<pid>-<random>.tmp`."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}{TMP_SUFFIX}")


def atomic_write(path: str | Path, data: bytes | str | Callable[[BinaryIO], None]) -> None:
    """Write `data` (bytes, text, or a function writing into a binary file) to `path` through a temporary file,
    fsync and a rename: after a crash or a full disk at any point, `path` holds its old content or the new one.
    The temporary file is removed when writing fails."""
    path = Path(path)
    tmp = _temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def remove_stale_temps(run_dir: Path) -> None:
    """Temporary files of a run's own outputs left by a killed writer (call with the run's lock held)."""
    for p in run_dir.glob(f".*{TMP_SUFFIX}"):
        if any(p.name.startswith(f".{name}.") for name in RUN_OUTPUTS):
            with contextlib.suppress(OSError):
                p.unlink()


def _is_leftover(name: str) -> bool:
    return name in LEFTOVERS or (name.endswith(TMP_SUFFIX) and any(name.startswith(f".{n}.") for n in RUN_OUTPUTS))


# ---- the lock ---------------------------------------------------------------------------------------------------


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


class RunLock:
    """An exclusive lock on a run folder (`flock` on `<run_dir>/.lock`, which holds the holder's pid), taken
    without waiting: `RunBusyError` names the holder when another process has it. The kernel drops it when the
    process ends, however it ends, so a killed run never leaves a stale lock. Creates the folder."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / LOCK_FILE
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = _read_pid(fd)
                os.close(fd)
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise RunBusyError(f"{self.run_dir} is in use by another training process (pid {holder}): "
                                       "wait for it to end or stop it; one process at a time may write a run "
                                       "folder") from None
                raise
            # A process discarding the folder may have removed the file between our open and flock: lock anew.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ---- a new run's folder -----------------------------------------------------------------------------------------


def _names(paths) -> str:
    names = sorted(p.name for p in paths)
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")


def claim_fresh(run_dir: Path, overwrite: bool = False) -> None:
    """Check (with the run's lock held) that a new run may start in `run_dir`: it holds nothing but what a run
    that never started leaves. With `overwrite`, an earlier run's own files (RUN_OUTPUTS) are removed first; a
    folder holding anything else is always refused."""
    others = [p for p in run_dir.iterdir() if not _is_leftover(p.name)]
    if others and not overwrite:
        if (run_dir / "config.yaml").exists():
            raise RunFolderError(f"{run_dir} already holds a run ({_names(others)}): continue it with "
                                 f"resume={run_dir}, start it over with overwrite=true, or pick another folder")
        raise RunFolderError(f"{run_dir} is not empty ({_names(others)}): a new run starts in an empty folder")
    foreign = [p for p in others if p.name not in RUN_OUTPUTS]
    if foreign:
        raise RunFolderError(f"overwrite=true removes only a run's own files, but {run_dir} also holds "
                             f"{_names(foreign)}: pick an empty folder")
    for p in others:
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    remove_stale_temps(run_dir)


def discard_unstarted(run_dir: Path, created_root: Path | None = None) -> None:
    """Remove `run_dir` when it holds only what a run that never started leaves, and no process holds it;
    then its parents up to `created_root` (the topmost folder this program created), those left empty."""
    try:
        lock = RunLock(run_dir).acquire() if run_dir.is_dir() else None
    except (RunBusyError, OSError):
        return
    try:
        if lock is not None:
            if any(not _is_leftover(p.name) for p in run_dir.iterdir()):
                return
            for p in run_dir.iterdir():
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            run_dir.rmdir()
    except OSError:
        return
    finally:
        if lock is not None:
            lock.release()
    if created_root is None:
        return
    root = created_root.resolve()
    for parent in run_dir.resolve().parents:
        if parent != root and root not in parent.parents:
            break
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def check_writable(folder: str | Path, what: str) -> None:
    """Raise RunFolderError, before any work, when `folder` (or the nearest existing folder above it, where it
    would be made) cannot be written."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        reason = "not a folder" if not existing.is_dir() else "not writable (read-only or no permission)"
        raise RunFolderError(f"cannot write {what} into {folder}: {existing} is {reason}")


# ---- metrics.jsonl ------------------------------------------------------------------------------------------------


def read_metrics(path: str | Path, warn: Callable[[str], None] = print) -> list[dict]:
    """The rows of a metrics.jsonl (none when it is missing). A last line cut off by a crash (no newline, or not
    JSON) is dropped with a warning through `warn`; an unreadable line before the last is an error."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        last = number == len(lines) or (number == len(lines) - 1 and not lines[-1].strip())
        try:
            if number == len(lines):
                raise ValueError("no newline at its end")
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if not last:
                raise RunFolderError(f"{path} line {number} is not a JSON object ({err}): the file was edited or "
                                     "damaged; fix or remove that line") from None
            warn(f"warning: {path}: dropped its last line ({len(line)} bytes), cut off by a crash while it was "
                 "written")
            continue
        rows.append(row)
    return rows


def write_metrics(path: str | Path, rows: list[dict]) -> None:
    """Replace metrics.jsonl with `rows`, atomically."""
    atomic_write(path, "".join(json.dumps(row) + "\n" for row in rows))
