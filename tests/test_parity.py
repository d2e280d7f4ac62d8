"""Prieto et al. extras: the sparse-parity task (tasks/parity.py) and the transformer's LayerNorm option
(models/transformer.py), each against an obviously-correct reference."""
from __future__ import annotations

import pytest
import torch

from grokscope.config import ConfigError, load_config
from grokscope.tasks.base import TASKS


def test_parity_defaults_labels_and_split():
    cfg = load_config({"task": {"name": "parity"}, "model": {"name": "mlp", "hidden": [8]}})
    t = cfg.task
    assert (t.n_relevant, t.n_noise, t.n_samples, t.frac_train) == (3, 40, 2000, 0.5)
    d = TASKS["parity"](t)
    assert d.X_train.shape == (1000, 43) and d.X_test.shape == (1000, 43) and d.classes == 2
    X = torch.cat([d.X_train, d.X_test])
    y = torch.cat([d.y_train, d.y_test])
    assert set(X.unique().tolist()) == {0.0, 1.0}
    for row, lab in zip(X.tolist()[:300], y.tolist()[:300]):  # XOR of the first three bits, by hand
        assert lab == (int(row[0]) ^ int(row[1]) ^ int(row[2]))
    assert 0.4 < float(y.double().mean()) < 0.6  # balanced classes
    again = TASKS["parity"](t)
    assert torch.equal(again.X_train, d.X_train)  # seeded


def test_parity_pm1_encoding_and_errors():
    d = TASKS["parity"](load_config({"task": {"name": "parity", "encoding": "pm1", "n_samples": 50,
                                              "n_noise": 2}}).task)
    b = TASKS["parity"](load_config({"task": {"name": "parity", "n_samples": 50, "n_noise": 2}}).task)
    assert torch.equal(d.X_train, 1 - 2 * b.X_train) and torch.equal(d.y_train, b.y_train)
    with pytest.raises(ConfigError, match="task.n_relevant = 0"):
        load_config({"task": {"name": "parity", "n_relevant": 0}})
    with pytest.raises(ConfigError, match="task.frac_train"):
        load_config({"task": {"name": "parity", "n_samples": 2, "frac_train": 0.9}})


def _model(layernorm: str):
    from grokscope.models import build_model
    from grokscope.tasks.base import TASKS as T
    cfg = load_config({"task": {"name": "modular", "p": 7, "frac_train": 0.5}, "scaling": {"lr_rule": "plain"},
                       "model": {"name": "transformer", "d_model": 16, "n_heads": 4, "d_mlp": 32,
                                 "layernorm": layernorm}})
    data = T["modular"](cfg.task)
    m = build_model(cfg.model, data.D, data)
    params = m.init(torch.Generator().manual_seed(0), torch.float64)
    g = torch.Generator().manual_seed(1)
    for k in ("ln1_g", "ln1_b", "ln2_g", "ln2_b") if layernorm != "none" else ():  # off their init
        params[k] = params[k] + 0.3 * torch.randn(params[k].shape, generator=g, dtype=torch.float64)
    return m, params, data.X_train


@pytest.mark.parametrize("layernorm", ["pre", "post"])
def test_layernorm_matches_torch_encoder_layer(layernorm):
    """forward_all (every position, causal) = torch.nn.TransformerEncoderLayer with the same weights,
    dropout 0, attention biases 0 (norm_first for pre); apply = its last position."""
    m, p, X = _model(layernorm)
    d = m.d_model
    layer = torch.nn.TransformerEncoderLayer(d, m.n_heads, m.d_mlp, dropout=0.0, batch_first=True,
                                             norm_first=layernorm == "pre", dtype=torch.float64)
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(torch.cat([p["W_Q"].T, p["W_K"].T, p["W_V"].T]))
        layer.self_attn.in_proj_bias.zero_()
        layer.self_attn.out_proj.weight.copy_(p["W_O"].T)
        layer.self_attn.out_proj.bias.zero_()
        layer.linear1.weight.copy_(p["W_in"].T)
        layer.linear1.bias.copy_(p["b_in"])
        layer.linear2.weight.copy_(p["W_out"].T)
        layer.linear2.bias.copy_(p["b_out"])
        for i in (1, 2):
            getattr(layer, f"norm{i}").weight.copy_(p[f"ln{i}_g"])
            getattr(layer, f"norm{i}").bias.copy_(p[f"ln{i}_b"])
    layer.eval()
    x = torch.nn.functional.embedding(X, p["W_E"]) + p["W_pos"][: X.shape[1]]
    mask = torch.nn.Transformer.generate_square_subsequent_mask(X.shape[1], dtype=torch.float64)
    with torch.no_grad():
        want = layer(x, src_mask=mask) @ p["W_U"]
    torch.testing.assert_close(m.forward_all(p, X), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(m.apply(p, X), want[:, -1], rtol=1e-12, atol=1e-12)


def test_options_off_leave_the_transformer_unchanged():
    """Default config: the parameter names and draws of the plain transformer, and its formula."""
    m, p, X = _model("none")
    assert tuple(p) == ("W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_in", "b_in", "W_out", "b_out", "W_U")
    x = torch.nn.functional.embedding(X, p["W_E"]) + p["W_pos"]
    q, k, v = (x @ p[w] for w in ("W_Q", "W_K", "W_V"))
    P, n, _ = x.shape
    heads = []
    for h in range(m.n_heads):
        sl = slice(h * m.d_head, (h + 1) * m.d_head)
        s = q[:, -1:, sl] @ k[:, :, sl].transpose(1, 2) / m.d_head**0.5
        heads.append(torch.softmax(s, -1) @ v[:, :, sl])
    r = x[:, -1] + torch.cat(heads, -1)[:, 0] @ p["W_O"]
    want = (r + torch.relu(r @ p["W_in"] + p["b_in"]) @ p["W_out"] + p["b_out"]) @ p["W_U"]
    torch.testing.assert_close(m.apply(p, X), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ConfigError, match="model.moe_top_k = 5"):
        load_config({"task": {"name": "modular", "p": 7}, "scaling": {"lr_rule": "plain"},
                     "model": {"name": "transformer", "moe_experts": 4, "moe_top_k": 5}})
    with pytest.raises(ConfigError, match="model.layernorm"):
        load_config({"task": {"name": "modular", "p": 7}, "scaling": {"lr_rule": "plain"},
                     "model": {"name": "transformer", "layernorm": "final"}})
