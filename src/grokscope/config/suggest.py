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


def dotted_keys() -> list[str]:
    """Every dotted config key of every section family (e.g. scaling.alpha, model.N, task.p)."""
    from grokscope.config.core import Config
    from grokscope.config.sections import MODEL_SECTIONS, TASK_SECTIONS
    keys = set()
    for sec, field in Config.model_fields.items():
        classes = {"task": TASK_SECTIONS.values(), "model": MODEL_SECTIONS.values()}.get(sec, [field.annotation])
        for cls in classes:
            keys.update(f"{sec}.{k}" for k in getattr(cls, "model_fields", {}))
    return sorted(keys)


def key_suggestion(key: str) -> str:
    """For an unknown dotted key: the closest full keys, matching on the whole key or its last part
    (``alpha`` → ``scaling.alpha``)."""
    keys = dotted_keys()
    leaf = key.rsplit(".", 1)[-1]
    by_leaf = [k for k in keys if k.rsplit(".", 1)[-1] == leaf]
    return f" (did you mean {' or '.join(by_leaf[:3])}?)" if by_leaf else did_you_mean(key, keys)
