"""The tables of named configs, filled by ``config/presets.py`` (the paper's figures) and by every module
of ``config/preset_families`` (each a family of presets). A separate module, so that families import the
tables without importing ``presets`` (which imports the families): no import cycle.

- ``PRESETS``: name → nested config dict.
- ``DESCRIPTIONS``: name → one line for ``grokscope presets``.
- ``SMALL``: name → dotted overrides giving a seconds-long variant (tests, quick looks).
"""
from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {}
DESCRIPTIONS: dict[str, str] = {}
SMALL: dict[str, dict[str, Any]] = {}
