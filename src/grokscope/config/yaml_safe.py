"""YAML for hostile input: ``yaml.SafeLoader`` (no Python tags) that also rejects duplicate keys and
recursive aliases, and bounds the input size, the nesting depth and the alias-expanded node count
(a "billion laughs" file fails in milliseconds). Every problem is one :class:`ConfigError`."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from grokscope.config.limits import short
from grokscope.config.sections import ConfigError

MAX_BYTES = 1 << 20       # input size (1 MiB)
MAX_DEPTH = 50            # nesting of mappings and lists, aliases expanded
MAX_NODES = 200_000       # values in the document with every alias expanded
_MERGE = "tag:yaml.org,2002:merge"


class LimitError(yaml.YAMLError):
    """The document is beyond a bound of this loader."""


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with duplicate-key, depth, alias-expansion and recursion checks."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise LimitError(f"nesting deeper than {MAX_DEPTH} levels (line {line})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None:
            _expanded_size(node)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # unhashable key: the base class reports it
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {short(key)} (lines {first + 1} and "
                        f"{key_node.start_mark.line + 1}); each key may appear once per mapping",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: Any) -> int:
    """Node count with every alias expanded; raises on recursion, depth or size beyond the bounds."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) → (expanded size, height)
    active: set[int] = set()

    def visit(node: Any, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise LimitError(f"nesting deeper than {MAX_DEPTH} levels once aliases are expanded")
        key = id(node)
        if key in sizes:
            size, height = sizes[key]
            if depth + height > MAX_DEPTH:
                raise LimitError(f"nesting deeper than {MAX_DEPTH} levels once aliases are expanded")
            return size, height
        if key in active:
            raise LimitError(f"recursive alias (line {node.start_mark.line + 1}): a value contains itself")
        if isinstance(node, yaml.ScalarNode):
            return 1, 0
        active.add(key)
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        size, height = 1, 0
        for child in children:
            s, h = visit(child, depth + 1)
            size, height = size + s, max(height, h + 1)
            if size > MAX_NODES:
                raise LimitError(f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)")
        active.discard(key)
        sizes[key] = (size, height)
        return size, height

    return visit(root, 0)[0]


def loads(text: str, where: str = "YAML") -> Any:
    """Parse one YAML document with :class:`StrictLoader`; ConfigError naming ``where`` on any problem."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{where}: {len(text)} characters; at most {MAX_BYTES} allowed")
    loader = None
    try:
        loader = StrictLoader(text)
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        msg = str(exc).replace('in "<unicode string>", ', "")
        msg = msg if len(msg) <= 600 else msg[:600] + "…"
        raise ConfigError(f"{where}: not valid YAML: {msg}") from None
    except RecursionError:  # pragma: no cover - bounded by MAX_DEPTH
        raise ConfigError(f"{where}: nesting too deep") from None
    finally:
        if loader is not None:
            loader.dispose()


def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device (like /dev/null)"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def read_text(path: str | os.PathLike[str], what: str = "config file") -> str:
    """UTF-8 text of a regular file of at most MAX_BYTES; ConfigError saying what is wrong."""
    p = Path(path)
    where = f"{what} {str(p)!r}"
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigError(f"{where}: not found") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot access ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{where}: is {_kind(st.st_mode)}, not a YAML file")
    if st.st_size > MAX_BYTES:
        raise ConfigError(f"{where}: {st.st_size} bytes; a YAML file may be at most {MAX_BYTES} bytes (1 MiB)")
    try:
        with open(p, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{where}: more than {MAX_BYTES} bytes; a YAML file may be at most 1 MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "is it a binary file?") from None
    return text.removeprefix("\ufeff")


def load_file(path: str | os.PathLike[str], what: str = "config file") -> Any:
    """The YAML document in ``path`` (see :func:`read_text` and :func:`loads`)."""
    return loads(read_text(path, what), f"{what} {str(Path(path))!r}")
