"""Seed spread (docs/seeds.md): the fig1-seeds sweep is one batched ensemble over init seeds, the
packaged percentile table is consistent and reproducible, and the demo places its own draw in it."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokscope.config import load_config
from grokscope.config.presets import get_preset
from grokscope.diagnostics.events import load_seed_table, percentile_rank, seed_free, seed_spread_line
from grokscope.sweep.spec import expand, load_spec
from grokscope.training.batched import batch_key

QUICK = {"task.D": 20, "task.P": 110, "task.P_test": 300, "model.N": 50}


def _subset(want, got) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _subset(v, got[k]) for k, v in want.items())
    return want == got


def test_fig1_seeds_is_one_ensemble_of_16_init_seeds():
    for quick in (False, True):
        plan = expand(load_spec(preset="fig1-seeds", quick=quick))
        assert len(plan) == 16
        assert len({batch_key(p.cfg) for p in plan}) == 1 and batch_key(plan[0].cfg) is not None
        assert sorted(p.cfg.model.seed for p in plan) == list(range(16))
        assert len({(p.cfg.task.data_seed, p.cfg.task.test_seed, p.cfg.task.beta_seed) for p in plan}) == 1
        # the spec packs the whole ensemble into one backend task
        assert load_spec(preset="fig1-seeds", quick=quick).pack_size == 16


def test_percentile_rank_against_brute_force():
    """Mid-rank percentile = scipy's percentileofscore(kind='mean') = mean of the weak and strict ranks."""
    from scipy.stats import percentileofscore
    rng = np.random.default_rng(0)
    sample = list(rng.integers(0, 20, size=37).astype(float))
    for v in [-1.0, 0.0, 3.0, 7.5, 19.0, 25.0]:
        weak = 100 * sum(s <= v for s in sample) / len(sample)
        strict = 100 * sum(s < v for s in sample) / len(sample)
        assert percentile_rank(v, sample) == pytest.approx((weak + strict) / 2, abs=1e-12)
        assert percentile_rank(v, sample) == pytest.approx(percentileofscore(sample, v, kind="mean"), abs=1e-12)
    assert percentile_rank(5.0, [1.0, math.inf]) == 50.0  # a seed that never crossed counts as later


def test_packaged_table_is_consistent_with_the_quick_spec():
    table = load_seed_table()
    cfg = expand(load_spec(preset="fig1-seeds", quick=True))[3].cfg.to_dict()
    # the table describes this spec's runs: every key it recorded has the spec's value (config fields
    # added later, which the table cannot know, are not compared)
    assert _subset(table["config"], seed_free(cfg)) and "seed" not in table["config"]["model"]
    assert _subset(table["resampled_data"]["config"], seed_free(cfg, data=True))
    assert "data_seed" not in table["resampled_data"]["config"]["task"] and "data_seed" in table["config"]["task"]
    assert not _subset(table["config"], seed_free(load_config(get_preset("fig1")).to_dict()))
    for part in (table, table["resampled_data"], table["full_size_data"]):
        assert part["seeds"] == list(range(16))
        for col, vals in part["values"].items():
            x = np.array([v for v in vals if v is not None], dtype=float)
            assert len(vals) == 16
            for q, want in part["percentiles"][col].items():
                assert want == pytest.approx(float(np.percentile(x, float(q))), rel=1e-12)
        v = part["values"]
        for tr, te, g in zip(v["t_train_0.1"], v["t_test_0.1"], v["grok_amount_0.1"]):
            assert g == max(0, te - tr)


def test_spread_line_matches_only_the_tables_config():
    table = load_seed_table()
    ev = {"absolute": {"0.1": {"t_test": 2900}}}
    same = load_config(get_preset("fig1"), {**QUICK, "model.seed": 123, "train.dtype": "float32"}).to_dict()
    line = seed_spread_line(ev, same, table)
    want = percentile_rank(2900, table["values"]["t_test_0.1"])
    data = percentile_rank(2900, table["resampled_data"]["values"]["t_test_0.1"])
    assert f"is at percentile {want:.0f} of the " in line and f"; percentile {data:.0f} over draws of data" in line
    other_data = load_config(get_preset("fig1"), {**QUICK, "task.data_seed": 99}).to_dict()
    line = seed_spread_line(ev, other_data, table)  # placed among the data draws only
    assert f"is at percentile {data:.0f} over draws of data" in line and "init seeds" not in line
    demo = load_config(get_preset("fig1"), {"train.dtype": "float32"}).to_dict()  # the full-size demo
    full = percentile_rank(66_000, table["full_size_data"]["values"]["t_test_0.1"])
    line = seed_spread_line({"absolute": {"0.1": {"t_test": 66_000}}}, demo, table)
    assert f"is at percentile {full:.0f} over draws of data and init" in line and "init seeds" not in line
    other = load_config(get_preset("fig1"), {"model.eps": 0.05}).to_dict()  # measured by no part
    assert "no percentile" in seed_spread_line(ev, other, table)
    assert "not reached" in seed_spread_line({"absolute": {"0.1": {"t_test": None}}}, same, table)


def test_demo_reproduces_the_tables_seed_0(tmp_path, capsys):
    """The demo at the table's size (float64, seed 0) reports single-step events equal to the table's
    member 0 (trained inside the 16-member ensemble) and prints its percentile line."""
    from grokscope.cli import main
    torch.set_num_threads(1)
    table = load_seed_table()
    sets = [f"{k}={v}" for k, v in QUICK.items()] + ["train.dtype=float64", "train.steps=4000", "train.early_stop=1",
                                                     "probes.names=[loss]", "output.plots=false"]
    code = main(["demo", "--out", str(tmp_path), "--no-progress", "--threads", "1"]
                + [a for s in sets for a in ("--set", s)])
    out = capsys.readouterr().out
    assert code == 0
    t0 = table["values"]["t_test_0.1"][0]
    want = percentile_rank(t0, table["values"]["t_test_0.1"])
    assert f"seed spread: t_test(0.1) = {t0} is at percentile {want:.0f} of the " in out
