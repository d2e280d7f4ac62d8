"""“Did you mean”: the nearest valid names to a mistyped one (subcommands, flags, presets, config keys)."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates close to ``word`` (difflib ratio ≥ 0.6), best first."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.6)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' (or 'X or Y'), or '' when nothing is close."""
    near = nearest(word, candidates)
    return f" (did you mean {' or '.join(near)}?)" if near else ""


def key_suggestion(key: str, allowed_here: Iterable[str], all_keys: Iterable[str]) -> str:
    """For an unknown dotted key: the nearest keys allowed where it stands (``scaling.alpah`` →
    ``scaling.alpha``); for an unknown top-level key, the full keys whose last part it is (``alpha`` →
    ``scaling.alpha``)."""
    if "." not in key:
        by_leaf = [k for k in all_keys if k.rsplit(".", 1)[-1] == key]
        return f" (did you mean {' or '.join(by_leaf[:3])}?)" if by_leaf else ""
    head, leaf = key.rsplit(".", 1)
    near = nearest(leaf, allowed_here)
    return f" (did you mean {' or '.join(f'{head}.{k}' for k in near)}?)" if near else ""
