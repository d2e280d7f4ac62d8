"""Extending the config schema: a new task or model family registers its section class here (from its
own file, through ``tasks.base.register_task`` / ``models.registry.register_model``), and the ``task``
and ``model`` unions of :class:`~grokscope.config.core.Config` are rebuilt to accept its ``name``."""
from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic.fields import FieldInfo

from grokscope.config import core, sections
from grokscope.config.sections import MODEL_SECTIONS, TASK_SECTIONS, ConfigError

_KINDS = {"task": TASK_SECTIONS, "model": MODEL_SECTIONS}


def register_section(kind: str, name: str, section: type[Any]) -> None:
    """Accept ``{kind}.name = name`` with the fields of ``section`` (a ``_Section`` subclass whose
    ``name`` field is ``Literal[name]``). Registering the same class again is a no-op."""
    table = _KINDS.get(kind)
    if table is None:
        raise ValueError(f"register_section: kind = {kind!r}; allowed are task, model")
    if table.get(name) is section:
        return
    if name in table:
        raise ConfigError(f"{kind}.name = {name!r} is already registered by {table[name].__name__}")
    table[name] = section
    union = sections._by_name(table)
    old = core.Config.model_fields[kind]
    core.Config.model_fields[kind] = FieldInfo.from_annotated_attribute(union, old.default)
    core.Config.model_rebuild(force=True)


def register_engine_name(name: str) -> None:
    """Accept ``train.engine = name`` (engines/registry.py calls this for each registered engine)."""
    field = core.Train.model_fields["engine"]
    allowed = tuple(get_args(field.annotation))
    if name in allowed:
        return
    core.Train.model_fields["engine"] = FieldInfo.from_annotated_attribute(Literal[allowed + (name,)], field.default)
    core.Train.model_rebuild(force=True)
    core.Config.model_rebuild(force=True)


def unregister_section(kind: str, name: str) -> None:
    """Undo :func:`register_section` (for tests and plug-ins that unload); built-in sections stay."""
    table = _KINDS[kind]
    if name not in table or next(iter(table)) == name:
        return
    del table[name]
    old = core.Config.model_fields[kind]
    core.Config.model_fields[kind] = FieldInfo.from_annotated_attribute(sections._by_name(table), old.default)
    core.Config.model_rebuild(force=True)


def unregister_engine_name(name: str) -> None:
    """Undo :func:`register_engine_name`."""
    field = core.Train.model_fields["engine"]
    allowed = tuple(a for a in get_args(field.annotation) if a != name)
    core.Train.model_fields["engine"] = FieldInfo.from_annotated_attribute(Literal[allowed], field.default)
    core.Train.model_rebuild(force=True)
    core.Config.model_rebuild(force=True)
