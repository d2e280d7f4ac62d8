"""Mini-batch indices shared by every engine, so a network and its twin see the same batches."""
from __future__ import annotations

import torch


class EpochBatches:
    """Indices of consecutive mini-batches of ``batch_size`` out of P, reshuffled every epoch with
    ``generator`` (the same seed gives the same sequence); ``next()`` is None for full batch."""

    def __init__(self, P: int, batch_size: int | None, generator: torch.Generator | None,
                 device: torch.device | str = "cpu"):
        self.P, self.device, self._gen = P, device, generator
        self.batch_size = batch_size if batch_size and batch_size < P else None
        self._perm: torch.Tensor | None = None
        self._cursor = 0

    def next(self) -> torch.Tensor | None:
        if self.batch_size is None:
            return None
        if self._perm is None or self._cursor + self.batch_size > self.P:
            self._perm = torch.randperm(self.P, generator=self._gen).to(self.device)
            self._cursor = 0
        idx = self._perm[self._cursor:self._cursor + self.batch_size]
        self._cursor += self.batch_size
        return idx
