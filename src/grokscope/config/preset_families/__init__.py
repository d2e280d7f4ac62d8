"""Preset families: one module per family of named configs, each adding to ``PRESETS``, ``DESCRIPTIONS``
and ``SMALL`` of ``grokscope.config.preset_table`` at import (import the tables from there, never from
``grokscope.config.presets``, which imports this package). Every module in this folder is imported when
``grokscope.config.presets`` is, in name order, so a new family is one new file here."""
