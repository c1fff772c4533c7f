"""Checkpoints: save and restore Variables by name in a numpy .npz file (tf.train.Saver).

A save writes a temporary file in the target directory, syncs it and renames it over
the final name (os.replace is atomic), so a crash mid-save leaves the previous
checkpoint intact and never a half-written one. A restore checks every name, shape and
dtype before assigning anything, so a mismatch leaves all variables untouched.
Each directory also gets a small ``checkpoint`` index (JSON, written the same way)
naming the latest checkpoint, for ``latest_checkpoint``.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .errors import DTypeError, GraphcError, ShapeError, TraceError

SUFFIX = ".npz"
INDEX_NAME = "checkpoint"


class CheckpointError(GraphcError):
    """A checkpoint is missing, unreadable, or does not hold a requested variable."""


def _atomic_write(path: str, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
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
        arrays = {name: var.numpy() for name, var in self._vars.items()}
        _atomic_write(_file_of(save_path), lambda f: np.savez(f, **arrays))
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
        """Assign the saved values to the variables; checks everything first."""
        _outside_trace("restore")
        path = _file_of(save_path)
        if not os.path.exists(path):
            raise CheckpointError(f"no checkpoint at '{path}'")
        try:
            with np.load(path, allow_pickle=False) as data:
                saved = {name: data[name] for name in data.files}
        except (OSError, ValueError) as e:
            raise CheckpointError(f"cannot read checkpoint '{path}': {e}") from None
        for name, var in self._vars.items():
            if name not in saved:
                raise CheckpointError(f"checkpoint '{path}' has no variable '{name}' "
                                      f"(it holds: {', '.join(sorted(saved)) or 'nothing'})")
            value = saved[name]
            if tuple(value.shape) != tuple(var.shape):
                raise ShapeError(f"checkpoint '{path}': variable '{name}' was saved with shape {tuple(value.shape)}, "
                                 f"but the variable has shape {tuple(var.shape)}")
            if value.dtype.name != var.dtype:
                raise DTypeError(f"checkpoint '{path}': variable '{name}' was saved as {value.dtype.name}, "
                                 f"but the variable is {var.dtype}")
        for name, var in self._vars.items():
            var.assign(saved[name])
