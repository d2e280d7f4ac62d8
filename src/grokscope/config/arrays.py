"""Load bring-your-own arrays (.npy, or .npz holding one array) as float64 tensors.

The real format is read from the magic bytes and the .npy header (shape, dtype) is checked against
the expected shape, ``MAX_ELEMENTS`` and the bytes present before any data is loaded; values must be
finite with |x| ≤ ``MAX_ABS``.

Every problem raises one :class:`~grokscope.config.ConfigError` naming the config key, the path
and what was expected, e.g.
``task.files.X_train = 'x.npy': shape (10, 5) does not match the expected (550, 100) = (task.P, task.D)``.
"""
from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from grokscope.config import ConfigError
from grokscope.config.limits import short

Shape = Sequence[int | None]


def _fmt_shape(shape: Shape) -> str:
    parts = ["*" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


MAX_ELEMENTS = 10**9   # elements one array file may declare
MAX_ABS = 1e10          # largest |value| accepted (larger values overflow the kernels and losses)
_NPY, _ZIP = b"\x93NUMPY", (b"PK\x03\x04", b"PK\x05\x06")


def _format(path: str, where: str) -> str:
    """The file's real format from its magic bytes: 'npy', 'npz' or a ConfigError."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head == _NPY:
        return "npy"
    if head[:4] in _ZIP:
        return "npz"
    raise ConfigError(f"{where}: cannot read: neither a .npy file nor a .npz archive (first bytes {head!r})")


def _header(fp: Any, size: int, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a .npy header, checked against the bytes that follow it, without loading."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ConfigError(f"{where}: cannot read: .npy format version {version} (1.0 and 2.0 are supported)")
    except ConfigError:
        raise
    except (ValueError, EOFError, OSError) as exc:
        raise ConfigError(f"{where}: cannot read the .npy header ({exc.__class__.__name__}: "
                          f"{str(exc)[:200]})") from None
    if dtype.hasobject or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise ConfigError(f"{where}: dtype {dtype} is not numeric; expected a real numeric array")
    if np.issubdtype(dtype, np.complexfloating):
        raise ConfigError(f"{where}: dtype {dtype} is complex; expected a real numeric array")
    count = math.prod(shape)
    if any(d < 0 for d in shape) or count > MAX_ELEMENTS:
        raise ConfigError(f"{where}: header declares shape {tuple(shape)} = {count} elements; "
                          f"at most {MAX_ELEMENTS} allowed")
    need, have = count * dtype.itemsize, size - fp.tell()
    if need > have:
        raise ConfigError(f"{where}: header declares shape {tuple(shape)} ({need} bytes of {dtype}) but the "
                          f"file holds only {have} bytes after the header: truncated or corrupt")
    return tuple(shape), dtype


def _read(path: str, where: str, check: Callable[[tuple[int, ...]], None]) -> np.ndarray:
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".npz"):
        raise ConfigError(f"{where}: unsupported file extension {ext or '(none)'!r}; "
                          f"allowed are .npy and .npz (holding exactly one array)")
    if not os.path.exists(path):
        raise ConfigError(f"{where}: file not found (expected a .npy or .npz file)")
    if not os.path.isfile(path):
        raise ConfigError(f"{where}: not a regular file (expected a .npy or .npz file)")
    try:
        real = _format(path, where)
        if f".{real}" != ext:
            raise ConfigError(f"{where}: the file is a .{real} {'archive' if real == 'npz' else 'file'} "
                              f"named {ext}; rename it to .{real}")
        if real == "npy":
            with open(path, "rb") as fh:
                check(_header(fh, os.path.getsize(path), where)[0])
                fh.seek(0)
                return np.lib.format.read_array(fh, allow_pickle=False)
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if len(names) != 1:
                listed = ", ".join(repr(n.removesuffix(".npy")) for n in names[:20]) or "none"
                raise ConfigError(f"{where}: an .npz must hold exactly one array; "
                                  f"it holds {len(names)}: {listed}")
            info = z.getinfo(names[0])
            with z.open(info) as fh:
                check(_header(fh, info.file_size, where)[0])
            with z.open(info) as fh:
                return np.lib.format.read_array(fh, allow_pickle=False)
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise ConfigError(f"{where}: cannot read as {ext} ({exc.__class__.__name__}: {str(exc)[:200]})") from None


def load_array(path: str | os.PathLike[str], key: str, shape: Shape | None = None,
               shape_names: Sequence[str] | None = None) -> torch.Tensor:
    """Array from ``path`` as a float64 CPU tensor, checked against ``shape``.

    ``shape``: expected shape; None entries are free (any size), None skips the check.
    ``shape_names``: optional names of the expected sizes, e.g. ("task.P", "task.D"), shown in errors.
    ``key``: the dotted config key that named the file (e.g. "task.files.X_train").
    """
    path = os.fspath(path)
    where = f"{key} = {short(path)}"

    def check(got: tuple[int, ...]) -> None:
        if math.prod(got) == 0 or not got:
            raise ConfigError(f"{where}: shape {got} holds no values" if got else
                              f"{where}: a 0-d array (a single number); expected an array")
        if shape is None:
            return
        expected = tuple(shape)
        named = ""
        if shape_names is not None:
            named = " = (" + ", ".join(shape_names) + ("," if len(shape_names) == 1 else "") + ")"
        ok = len(got) == len(expected) and all(e is None or e == s for e, s in zip(expected, got))
        if not ok:
            what = f"shape {got}" if len(got) == len(expected) else f"shape {got} ({len(got)}-d)"
            raise ConfigError(f"{where}: {what} does not match the expected {_fmt_shape(expected)}{named}")

    arr = _read(path, where, check)
    out = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).sum())
        raise ConfigError(f"{where}: {bad} non-finite value(s) (NaN or inf); all values must be finite")
    big = float(np.abs(out).max())
    if big > MAX_ABS:
        raise ConfigError(f"{where}: largest |value| is {big:.3g}; values must satisfy |x| ≤ {MAX_ABS:g} "
                          "(rescale the data)")
    return torch.from_numpy(np.ascontiguousarray(out)).clone()
