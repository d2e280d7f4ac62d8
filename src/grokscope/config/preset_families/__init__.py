"""Preset families: one module per family of named configs, each adding to ``PRESETS``, ``DESCRIPTIONS``
and ``SMALL`` (in ``grokscope.config.presets``) at import. Every module in this folder is imported when
``grokscope.config.presets`` is, in name order, so a new family is one new file here."""
