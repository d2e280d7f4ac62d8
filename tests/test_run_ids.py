"""Run ids (the config hash naming a run directory) survive new config fields: a finished run found again
is reused, not retrained, and a resumed run finds its checkpoint. tests/pins/run_ids.json holds the ids of
every preset (full and SMALL) as computed before this wave of options (fig2 left out: its preset was changed
to the authors' exact cell on purpose)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from grokscope.config import load_config
from grokscope.config.core import Recurrent
from grokscope.config.presets import PRESETS, SMALL
from grokscope.store import NEUTRAL_DEFAULTS, run_id

PINNED = json.loads((Path(__file__).parent / "pins" / "run_ids.json").read_text())


@pytest.mark.parametrize("name", sorted(PINNED))
def test_run_ids_of_earlier_presets_are_unchanged(name):
    full, small = PINNED[name]
    assert run_id(load_config(PRESETS[name])) == full
    assert run_id(load_config(PRESETS[name], SMALL.get(name) or {})) == small


def test_neutral_defaults_are_the_schema_defaults():
    """A neutral default that drifted from the schema's default would silently change run ids."""
    assert NEUTRAL_DEFAULTS[("init", "recurrent")] == Recurrent().model_dump(mode="json")
    cfg = load_config({}).to_dict()
    for (sec, key), value in NEUTRAL_DEFAULTS.items():
        if key in cfg.get(sec, {}):
            assert cfg[sec][key] == value, (sec, key)
