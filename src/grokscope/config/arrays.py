"""Load bring-your-own arrays (.npy, or .npz holding one array) as float64 tensors.

Every problem raises one :class:`~grokscope.config.ConfigError` naming the config key, the path
and what was expected, e.g.
``task.files.X_train = 'x.npy': shape (10, 5) does not match the expected (550, 100) = (task.P, task.D)``.
"""
from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence

import numpy as np
import torch

from grokscope.config import ConfigError

Shape = Sequence[int | None]


def _fmt_shape(shape: Shape) -> str:
    parts = ["*" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _read(path: str, where: str) -> np.ndarray:
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".npz"):
        raise ConfigError(f"{where}: unsupported file extension {ext or '(none)'!r}; "
                          f"allowed are .npy and .npz (holding exactly one array)")
    if not os.path.exists(path):
        raise ConfigError(f"{where}: file not found (expected a .npy or .npz file)")
    if not os.path.isfile(path):
        raise ConfigError(f"{where}: not a regular file (expected a .npy or .npz file)")
    try:
        if ext == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            if len(names) != 1:
                listed = ", ".join(repr(n) for n in names) or "none"
                raise ConfigError(f"{where}: an .npz must hold exactly one array; "
                                  f"it holds {len(names)}: {listed}")
            return z[names[0]]
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{where}: cannot read as {ext} ({exc.__class__.__name__}: {exc})") from None


def load_array(path: str | os.PathLike[str], key: str, shape: Shape | None = None,
               shape_names: Sequence[str] | None = None) -> torch.Tensor:
    """Array from ``path`` as a float64 CPU tensor, checked against ``shape``.

    ``shape``: expected shape; None entries are free (any size), None skips the check.
    ``shape_names``: optional names of the expected sizes, e.g. ("task.P", "task.D"), shown in errors.
    ``key``: the dotted config key that named the file (e.g. "task.files.X_train").
    """
    path = os.fspath(path)
    where = f"{key} = {path!r}"
    arr = _read(path, where)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ConfigError(f"{where}: dtype {arr.dtype} is not numeric; expected a real numeric array")
    if np.iscomplexobj(arr):
        raise ConfigError(f"{where}: dtype {arr.dtype} is complex; expected a real numeric array")
    if shape is not None:
        expected = tuple(shape)
        named = ""
        if shape_names is not None:
            named = " = (" + ", ".join(shape_names) + ("," if len(shape_names) == 1 else "") + ")"
        ok = arr.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
        if not ok:
            what = (f"shape {tuple(arr.shape)}" if arr.ndim == len(expected)
                    else f"shape {tuple(arr.shape)} ({arr.ndim}-d)")
            raise ConfigError(f"{where}: {what} does not match the expected "
                              f"{_fmt_shape(expected)}{named}")
    out = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).sum())
        raise ConfigError(f"{where}: {bad} non-finite value(s) (NaN or inf); all values must be finite")
    return torch.from_numpy(np.ascontiguousarray(out)).clone()
