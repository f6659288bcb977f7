"""Config errors from pydantic's: the key path as the YAML spells it, and a plain message.

Tagged unions (``train: {on: ...}``, ``serving: {shape: ...}``) put their tag into
pydantic's error path; the YAML has no such key, so it is dropped before the loader in
``config.py`` looks the line up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leptonci.core.serving_config import SERVING_SHAPES
from leptonci.core.train_config import TRAIN_KINDS

_TAGGED = {"train": ("on", TRAIN_KINDS), "serving": ("shape", SERVING_SHAPES)}


def data_loc(loc: tuple[Any, ...], kind: str) -> tuple[Any, ...]:
    """The error's path in the YAML: without pydantic's union tag (models.X.train.TAG.key)."""
    out: list[Any] = []
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] in _TAGGED and part in _TAGGED[loc[i - 1]][1]:
            continue
        out.append(part)
    if kind in ("union_tag_invalid", "union_tag_not_found") and out and out[-1] in _TAGGED:
        out.append(_TAGGED[out[-1]][0])
    return tuple(out)


def pydantic_message(err: Mapping[str, Any], loc: tuple[Any, ...] = ()) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden" and "train" in loc[:-1] and "local" in tuple(err["loc"]):
        return "only for on: kubernetes (this model trains on: local)"
    if kind == "extra_forbidden":
        return "unknown key (typo?)"
    if kind in ("union_tag_invalid", "union_tag_not_found") and loc[-2:-1]:
        key, kinds = _TAGGED.get(str(loc[-2]), ("on", TRAIN_KINDS))
        if kind == "union_tag_not_found":
            return f"required key missing: give {key}: one of {', '.join(kinds)}"
        return f"{err.get('ctx', {}).get('tag')!r} is not one of: {', '.join(kinds)}"
    if kind == "missing":
        return "required key missing"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")
