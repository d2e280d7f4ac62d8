"""Bounds shared by every config section: one :class:`Range` check for numbers (finite, never a
boolean, inside a stated range), safe names and paths, and short reprs for error messages.

A field declares its range once, in its type: ``alpha: real(1e-6, 1e6) = Field(1.0, ...)``; the
range is checked before pydantic's own parsing, named in the error and appended to the description.
"""
from __future__ import annotations

import math
import reprlib
from typing import Annotated, Any, get_args

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

SEED_MAX = 2**63 - 1    # seeds: 0 ≤ seed ≤ 2**63 − 1 (torch generators take signed 64-bit seeds)
STEPS_MAX = 10**9       # train.steps
COUNT_MAX = 10**9       # sizes and counts (D, P, N, widths, …); memory is checked separately at build
LIST_MAX = 1000         # entries of any list field
NAME_MAX = 100          # characters of a run or sweep name
PATH_MAX = 4096         # characters of a path or URI
SHOW_MAX = 200          # characters of a value shown in an error message


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 4, SHOW_MAX, 60, SHOW_MAX
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 12


def short(value: Any, limit: int = SHOW_MAX) -> str:
    """``repr(value)`` that never expands more than a few levels and ``limit`` characters."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _fmt(x: float | int) -> str:
    if isinstance(x, int) and x == SEED_MAX:
        return "2**63 − 1"
    if isinstance(x, int) and x >= 10**6 and str(x).rstrip("0") == "1":
        return f"10**{len(str(x)) - 1}"
    return str(x) if isinstance(x, int) else f"{x:g}"


class Range:
    """lo ≤ x ≤ hi (``lo_open``/``hi_open``: strict) for an int or float field; None passes when
    ``optional``. Rejects booleans, non-numbers, non-integral ints and non-finite floats. Text that
    reads as a number is accepted (YAML 1.1 reads ``1e-3`` as text), and an integral float for ints."""

    def __init__(self, kind: type, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False,
                 optional: bool = False) -> None:
        self.kind, self.lo, self.hi = kind, lo, hi
        self.lo_open, self.hi_open, self.optional = lo_open, hi_open, optional

    @property
    def text(self) -> str:
        lo, hi = ("<" if self.lo_open else "≤"), ("<" if self.hi_open else "≤")
        what = "an integer" if self.kind is int else "a finite number"
        none = " or null" if self.optional else ""
        return f"{what} with {_fmt(self.lo)} {lo} x {hi} {_fmt(self.hi)}{none}"

    def _fail(self, why: str) -> PydanticCustomError:
        return PydanticCustomError("number_range", "{why}; allowed: {allowed}",
                                   {"why": why, "allowed": self.text})

    def _parse(self, v: Any) -> int | float:
        if isinstance(v, bool):
            raise self._fail("a boolean is not a number")
        if isinstance(v, str):
            s = v.strip()
            if len(s) > 100:
                raise self._fail("not a number (text too long)")
            try:
                v = int(s) if self.kind is int else float(s)
            except ValueError:
                raise self._fail(f"not {'an integer' if self.kind is int else 'a number'}") from None
        if not isinstance(v, (int, float)):
            raise self._fail(f"expected {'an integer' if self.kind is int else 'a number'}, "
                             f"got {type(v).__name__}")
        if self.kind is int:
            if isinstance(v, float):
                if not (math.isfinite(v) and v.is_integer()):
                    raise self._fail("must be an integer")
                v = int(v)
            return int(v)
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise self._fail("must be a finite number")
        return f

    def __call__(self, v: Any) -> Any:
        if v is None and self.optional:
            return None
        x = self._parse(v)
        if x < self.lo or (self.lo_open and x == self.lo):
            if self.lo > 0 and x <= 0:
                raise self._fail("must be greater than 0")
            raise self._fail(f"must be {'>' if self.lo_open else '≥'} {_fmt(self.lo)}")
        if x > self.hi or (self.hi_open and x == self.hi):
            raise self._fail(f"must be {'<' if self.hi_open else '≤'} {_fmt(self.hi)}")
        return x


def real(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False, optional: bool = False) -> Any:
    """Type of a float field with the stated range (finite; booleans rejected)."""
    rng = Range(float, lo, hi, lo_open=lo_open, hi_open=hi_open, optional=optional)
    return Annotated[float | None if optional else float, BeforeValidator(rng)]


def integer(lo: int, hi: int, *, optional: bool = False) -> Any:
    """Type of an int field with the stated range (booleans and fractions rejected)."""
    rng = Range(int, lo, hi, optional=optional)
    return Annotated[int | None if optional else int, BeforeValidator(rng)]


SEED = integer(0, SEED_MAX)


def find_range(annotation: Any, metadata: list[Any]) -> Range | None:
    """The :class:`Range` of a field (or of its list items), if it has one."""
    for m in metadata:
        if isinstance(getattr(m, "func", None), Range):
            return m.func
    for arg in get_args(annotation):
        if isinstance(getattr(arg, "func", None), Range):
            return arg.func
        found = find_range(arg, [])
        if found is not None:
            return found
    return None


def _name(v: Any) -> Any:
    if v is None:
        return v
    if not isinstance(v, str):
        raise PydanticCustomError("name", "must be a text name (a single directory name), got {t}",
                                  {"t": type(v).__name__})
    why = name_problem(v)
    if why:
        raise PydanticCustomError("name", "{why}", {"why": why})
    return v


def name_problem(v: str) -> str | None:
    """Why ``v`` is not a safe single path component (None if it is)."""
    if not v or v.strip() != v:
        return "must be a non-empty name without leading or trailing spaces"
    if len(v) > NAME_MAX:
        return f"is {len(v)} characters long; at most {NAME_MAX} allowed"
    if v in (".", "..") or any(c in v for c in "/\\") or any(ord(c) < 32 or ord(c) == 127 for c in v):
        return "must be a single directory name: no '/', '\\', control characters, '.' or '..'"
    return None


def _path(v: Any) -> Any:
    if v is None:
        return v
    if not isinstance(v, str):
        raise PydanticCustomError("path", "expected a path (text), got {t}", {"t": type(v).__name__})
    if not v or len(v) > PATH_MAX or "\0" in v:
        raise PydanticCustomError("path", "must be a non-empty path of at most {n} characters without NUL",
                                  {"n": PATH_MAX})
    return v


NAME = Annotated[str | None, BeforeValidator(_name)]
PATH = Annotated[str, BeforeValidator(_path)]
OPT_PATH = Annotated[str | None, BeforeValidator(_path)]
