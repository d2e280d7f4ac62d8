"""British spelling (issue #16, requirement 6): ``--colour``/``--normalise`` and the sweep plot keys
``colour:``/``normalise:``; the American ``--color``/``--normalize``/``color:``/``normalize:`` and the
``color=``/``normalize=`` keywords of the sweep views still work as deprecated aliases that warn."""
from __future__ import annotations

import shutil
import warnings

import pandas as pd
import pytest
import yaml

from grokscope.cli import main
from grokscope.sweep.runner import run_sweep
from grokscope.sweep.spec import parse_spec, specs_dir
from grokscope.sweep.views import canonical_view, collapse, curves, draw

BASE = {"task": {"D": 6, "P": 16, "P_test": 20}, "model": {"N": 8, "eps": 0.3}, "optim": {"lr": 0.5},
        "train": {"steps": 20, "log_per_decade": 5, "engine": "network"},
        "probes": {"names": ["loss", "weights"]}, "output": {"plots": False}}
CURVE = "curves_test_loss__scaling.alpha.png"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("spell") / "sw"
    spec = parse_spec({"name": "spell", "base": BASE, "axes": {"scaling.alpha": [0.5, 2.0]}, "batch": False})
    run_sweep(spec, d, progress=False)
    return d


@pytest.fixture
def sw(sweep, tmp_path):
    d = tmp_path / "sw"
    shutil.copytree(sweep, d)
    shutil.rmtree(d / "figures", ignore_errors=True)
    return d


def test_new_flags_draw_without_warning(sw, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert main(["plot", str(sw), "--curves", "test_loss", "--colour", "scaling.alpha", "--normalise"]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert (sw / "figures" / CURVE).stat().st_size > 1000


def test_old_flags_still_work_and_warn(sw, capsys):
    assert main(["plot", str(sw), "--curves", "test_loss", "--colour", "scaling.alpha", "--normalise"]) == 0
    new = (sw / "figures" / CURVE).read_bytes()
    capsys.readouterr()
    with pytest.warns(DeprecationWarning) as rec:
        assert main(["plot", str(sw), "--curves", "test_loss", "--color", "scaling.alpha", "--normalize"]) == 0
    assert sorted(str(w.message) for w in rec) == ["--color is deprecated (American spelling); use --colour",
                                                   "--normalize is deprecated (American spelling); use --normalise"]
    err = capsys.readouterr().err
    assert "grokscope: warning: --color is deprecated (American spelling); use --colour" in err
    assert "grokscope: warning: --normalize is deprecated (American spelling); use --normalise" in err
    assert (sw / "figures" / CURVE).read_bytes() == new  # the same figure as with the new flags
    with pytest.warns(DeprecationWarning):
        rc = main(["plot", str(sw), "--curves", "test_loss", "--color", "model.seed", "--colour", "scaling.alpha"])
    assert rc == 2 and "give --colour only" in capsys.readouterr().err


def test_old_spec_keys_still_work_and_warn(sw, capsys):
    doc = yaml.safe_load((sw / "sweep.yaml").read_text())
    doc["plots"] = [{"curves": "test_loss", "color": "scaling.alpha", "normalize": True},
                    {"collapse": "final_test_loss", "derived": "scaling.alpha", "color": "scaling.alpha"}]
    (sw / "sweep.yaml").write_text(yaml.safe_dump(doc))
    with pytest.warns(DeprecationWarning) as rec:
        assert main(["plot", str(sw)]) == 0
    assert {str(w.message).split(" is ")[0] for w in rec} == {"grokscope: sweep plot key 'color'",
                                                             "grokscope: sweep plot key 'normalize'"}
    err = capsys.readouterr().err
    assert "grokscope: warning: sweep plot key 'color' is deprecated (American spelling); use 'colour'" in err
    assert "sweep plot key 'normalize' is deprecated (American spelling); use 'normalise'" in err
    assert sorted(p.name for p in (sw / "figures").glob("*.png")) == [
        "collapse_final_test_loss__scaling.alpha.png", CURVE]
    with pytest.warns(DeprecationWarning):
        assert draw(sw, [{"curves": "test_loss", "color": "scaling.alpha"}]) == [sw / "figures" / CURVE]


def test_canonical_view_and_keywords(sw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert canonical_view({"curves": "x", "colour": "a", "normalise": True}) == {
            "curves": "x", "colour": "a", "normalise": True}
    with pytest.warns(DeprecationWarning):
        assert canonical_view({"curves": "x", "color": "a", "normalize": True}) == {
            "curves": "x", "colour": "a", "normalise": True}
    df = pd.read_parquet(sw / "results.parquet")
    with pytest.warns(DeprecationWarning) as rec:
        ax = curves(df, sw, "test_loss", color="scaling.alpha", normalize=True)
    assert sorted(str(w.message).split(" is ")[0] for w in rec) == ["grokscope: curves() keyword 'color'",
                                                                     "grokscope: curves() keyword 'normalize'"]
    assert ax.get_ylabel() == "test loss / test loss(step 0)"
    with pytest.warns(DeprecationWarning, match=r"collapse\(\) keyword 'color'"):
        collapse(df, "final_test_loss", "scaling.alpha", color="scaling.alpha")


def test_packaged_specs_use_the_british_keys():
    for path in sorted(specs_dir().glob("*.yaml")):
        for view in yaml.safe_load(path.read_text()).get("plots") or []:
            assert not {"color", "normalize"} & set(view), (path.name, view)
