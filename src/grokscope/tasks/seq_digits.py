"""Sequential digits: scikit-learn's bundled 8×8 digits read row by row by a recurrent model (the
paper's sequential MNIST, Liu et al. 2024, at the size that ships with scikit-learn; nothing is
downloaded). X (P, 64) = 8 frames of 8 pixels in [0, 1], time-major (frame t = image row t), so
``meta`` states n_in = 8, seq_len = 8; y the digit (10 classes). ``n_train`` and ``n_test`` disjoint
images drawn with ``seed``; the first test images are the fixed probe set."""
from __future__ import annotations

import torch

from grokscope.config.neural_sections import SeqDigitsTask
from grokscope.config.sections import ConfigError
from grokscope.tasks.base import Dataset, register_task
from grokscope.tasks.images import load_digits_pool


@register_task("seq_digits", SeqDigitsTask, lambda cfg: frozenset({"classes"}))
def build_seq_digits(cfg: SeqDigitsTask) -> Dataset:
    X, y = load_digits_pool()
    n = X.shape[0]
    if cfg.n_train + cfg.n_test > n:
        raise ConfigError(f"task.n_train + task.n_test = {cfg.n_train} + {cfg.n_test}: the digits hold only "
                          f"{n} images; choose n_train + n_test ≤ {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed)).numpy()
    tr, te = perm[:cfg.n_train], perm[cfg.n_train:cfg.n_train + cfg.n_test]
    return Dataset(torch.from_numpy(X[tr]), torch.from_numpy(y[tr]), torch.from_numpy(X[te]),
                   torch.from_numpy(y[te]), classes=10, meta={"n_in": 8, "seq_len": 8, "source": "digits"})
