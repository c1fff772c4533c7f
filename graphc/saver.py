"""Checkpoints: save and restore Variables by name in a numpy .npz file (tf.train.Saver).

A save writes a temporary file in the target directory, syncs it and renames it over
the final name (os.replace is atomic), so a crash mid-save leaves the previous
checkpoint intact and never a half-written one; the zip comment holds a SHA-256 of the
contents. A restore reads and checks everything (the checksum, every name, shape, dtype
and size, each .npy header before its data) before assigning anything, so a damaged or
mismatched checkpoint raises (gc.CheckpointError naming the file and the damage, or
ShapeError/DTypeError) and leaves all variables untouched.
Each directory also gets a small ``checkpoint`` index (JSON, written the same way)
naming the latest checkpoint, for ``latest_checkpoint``.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import zipfile
import zlib

import numpy as np

from .errors import CheckpointError, DTypeError, ShapeError, TraceError

SUFFIX = ".npz"
INDEX_NAME = "checkpoint"
# The zip comment of a checkpoint holds this prefix and a SHA-256 of all its entries, so a
# restore detects corruption beyond the zip layer's CRCs; the .npz itself stays a plain one
# holding only the variables (checkpoints written without the comment still load).
CHECKSUM_PREFIX = b"graphc-sha256:"


def _atomic_write(path: str, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _file_of(save_path: str) -> str:
    return save_path if save_path.endswith(SUFFIX) else save_path + SUFFIX


def _index_path(directory: str) -> str:
    return os.path.join(directory, INDEX_NAME)


def latest_checkpoint(directory: str) -> str | None:
    """Path of the newest checkpoint saved in ``directory`` (None if there is none)."""
    try:
        with open(_index_path(directory)) as f:
            path = json.load(f)["latest"]
    except FileNotFoundError:
        return None
    return path if os.path.exists(_file_of(path)) else None


def _is_checkpoint_writer() -> bool:
    """False on the ranks other than 0 of a graphc.distributed job (looked up without
    importing it: a single-process program never loads MPI)."""
    comm = sys.modules.get("graphc.distributed._comm")
    return comm is None or comm.is_checkpoint_writer()


def _outside_trace(what: str) -> None:
    from .tracing import current_trace

    if current_trace() is not None:
        raise TraceError(f"Saver.{what} reads/writes variables from Python; call it outside compiled functions")


class Saver:
    """Saves/restores a list of Variables (keyed by name) or a dict {name: Variable}.

    ``save(path, global_step=n)`` writes ``path-n.npz`` (TF's suffix convention) and
    returns the checkpoint path ``path-n``; only the newest ``max_to_keep`` checkpoints
    written by this Saver are kept (None or 0 keeps all).
    """

    def __init__(self, var_list, max_to_keep: int | None = 5):
        if isinstance(var_list, dict):
            items = list(var_list.items())
        else:
            items = [(v.name, v) for v in var_list]
        self._vars: dict = {}
        for name, var in items:
            if not getattr(var, "_graphc_variable", False):
                raise TypeError(f"Saver: '{name}' is a {type(var).__name__}, not a gc.Variable")
            if name in self._vars:
                raise ValueError(f"Saver: two variables are named '{name}'; pass a dict of distinct names")
            self._vars[name] = var
        if not self._vars:
            raise ValueError("Saver: no variables to save")
        self.max_to_keep = max_to_keep
        self._kept: list = []  # checkpoint paths written by this Saver, oldest first

    @property
    def last_checkpoints(self) -> list:
        return list(self._kept)

    def save(self, save_path: str, global_step=None) -> str:
        """Write every variable's current value; returns the checkpoint path."""
        _outside_trace("save")
        if global_step is not None:
            step = int(global_step.numpy() if getattr(global_step, "_graphc_variable", False) else global_step)
            save_path = f"{save_path}-{step}"
        elif save_path.endswith(SUFFIX):
            save_path = save_path[: -len(SUFFIX)]
        if not _is_checkpoint_writer():
            return save_path  # data-parallel ranks hold the same values: rank 0 alone writes
        arrays = {name: var.numpy() for name, var in self._vars.items()}
        _atomic_write(_file_of(save_path), lambda f: _write_checkpoint(f, arrays))
        self._remember(save_path)
        return save_path

    def _remember(self, save_path: str) -> None:
        if save_path in self._kept:
            self._kept.remove(save_path)
        self._kept.append(save_path)
        if self.max_to_keep:
            while len(self._kept) > self.max_to_keep:
                old = self._kept.pop(0)
                if os.path.exists(_file_of(old)):
                    os.remove(_file_of(old))
        directory = os.path.dirname(os.path.abspath(save_path))
        index = json.dumps({"latest": save_path, "all": self._kept}).encode()
        _atomic_write(_index_path(directory), lambda f: f.write(index))

    def restore(self, save_path: str) -> None:
        """Assign the saved values to the variables. Everything is read and checked first
        (names, shapes, dtypes, checksums), so a bad checkpoint leaves every variable as
        it was: CheckpointError for a missing, empty, truncated or corrupted file,
        ShapeError/DTypeError for a variable saved with another shape or dtype."""
        _outside_trace("restore")
        path = _file_of(save_path)
        if not os.path.exists(path):
            raise CheckpointError(f"no checkpoint at '{path}'")
        saved = _read_checkpoint(path, self._vars)
        for name, var in self._vars.items():
            var.assign(saved[name])


def _write_checkpoint(f, arrays: dict) -> None:
    """np.savez into ``f`` (open for reading and writing), then the checksum comment."""
    np.savez(f, **arrays)
    f.seek(0)
    with zipfile.ZipFile(f, "a") as archive:
        archive.comment = CHECKSUM_PREFIX + _entries_digest(archive).encode()


def _entries_digest(archive) -> str:
    """SHA-256 over every entry's name and bytes, in archive order (read in chunks)."""
    h = hashlib.sha256()
    for info in archive.infolist():
        h.update(info.filename.encode() + b"\0")
        with archive.open(info) as member:
            for chunk in iter(lambda: member.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _read_checkpoint(path: str, variables: dict) -> dict:
    """The arrays of ``variables`` saved in ``path``, all validated (see Saver.restore)."""
    file_size = os.path.getsize(path)
    if file_size == 0:
        raise CheckpointError(f"checkpoint '{path}' is empty (0 bytes)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename[:-4]: info for info in archive.infolist() if info.filename.endswith(".npy")}
            for info in archive.infolist():
                _check_entry_size(path, info, file_size)
            if archive.comment.startswith(CHECKSUM_PREFIX):
                if _entries_digest(archive) != archive.comment[len(CHECKSUM_PREFIX):].decode():
                    raise CheckpointError(f"checkpoint '{path}' is corrupted: its contents fail the SHA-256 "
                                          "checksum written when it was saved")
            saved = {}
            for name, var in variables.items():
                if name not in members:
                    raise CheckpointError(f"checkpoint '{path}' has no variable '{name}' (it holds: "
                                          f"{', '.join(sorted(members)) or 'nothing'})")
                saved[name] = _read_array(path, archive, members[name], var)
    except (CheckpointError, ShapeError, DTypeError):
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
            UnicodeDecodeError, NotImplementedError) as e:
        raise CheckpointError(f"checkpoint '{path}' is truncated or corrupted "
                              f"({type(e).__name__}: {e})") from None
    return saved


def _check_entry_size(path, info, file_size) -> None:
    """Refuse a zip entry that declares more data than the file could hold (a corrupted
    directory would otherwise make us read or allocate whatever it says)."""
    if info.compress_type == zipfile.ZIP_STORED and info.file_size > file_size:
        raise CheckpointError(f"checkpoint '{path}' is corrupted: entry '{info.filename}' declares "
                              f"{info.file_size} bytes but the file has {file_size}")


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _read_array(path, archive, info, var) -> np.ndarray:
    """One variable's array: its .npy header is checked against the variable and the
    entry's size before any data is read (nothing larger than the variable is allocated)."""
    name = info.filename[:-4]
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in _HEADER_READERS:
            raise CheckpointError(f"checkpoint '{path}': variable '{name}' has an unknown .npy version {version}")
        shape, fortran, dtype = _HEADER_READERS[version](f)
        if dtype.hasobject:
            raise CheckpointError(f"checkpoint '{path}': variable '{name}' holds Python objects")
        if tuple(shape) != tuple(var.shape):
            raise ShapeError(f"checkpoint '{path}': variable '{name}' was saved with shape {tuple(shape)}, "
                             f"but the variable has shape {tuple(var.shape)}")
        if dtype == np.dtype("V2") and var.dtype == "bfloat16":
            dtype = np.dtype("bfloat16")  # .npy has no bfloat16: np.save writes its 2 raw bytes as V2
        if dtype.name != var.dtype:
            raise DTypeError(f"checkpoint '{path}': variable '{name}' was saved as {dtype.name}, "
                             f"but the variable is {var.dtype}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if info.compress_type == zipfile.ZIP_STORED and f.tell() + nbytes != info.file_size:
            raise CheckpointError(f"checkpoint '{path}' is corrupted: variable '{name}' needs {nbytes} bytes "
                                  f"of data, its entry holds {info.file_size - f.tell()}")
        data = f.read(nbytes)  # the zip layer checks the entry's CRC-32 as it reaches the end
        f.read()
    if len(data) != nbytes:
        raise CheckpointError(f"checkpoint '{path}' is truncated: variable '{name}' has {len(data)} "
                              f"of {nbytes} bytes")
    order = "F" if fortran else "C"
    return np.frombuffer(data, dtype).reshape(shape, order=order).astype(dtype.newbyteorder("="))
