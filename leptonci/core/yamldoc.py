"""Reading YAML a person wrote: every key's line, one error shape, plain values.

``load_yaml_with_lines`` parses with ruamel.yaml's round-trip loader so that errors
(and later checks on the parsed tree) can name the file, the line and the key path;
``plain`` turns the tree into dicts and lists; ``line_of`` finds a key path's line.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from leptonci.core.errors import ConfigError


def load_yaml_with_lines(text: str, *, file: str) -> Any:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problem = (exc.problem or "duplicate key").split("\n")[0]
        raise ConfigError(problem, file=file, line=line) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(
            f"invalid YAML: {exc.problem or exc.context}", file=file, line=line
        ) from None
    except YAMLError as exc:
        raise ConfigError(
            f"invalid YAML: {str(exc).splitlines()[0]}", file=file, line=error_line(exc, text)
        ) from None


def error_line(exc: BaseException, text: str) -> int | None:
    """The 1-based line a YAML error is at; a ReaderError (a character YAML forbids)
    has no mark, only the character's position in text."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    position = getattr(exc, "position", None)
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


def plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node]
    return node


def line_of(data: Any, loc: Sequence[Any]) -> int | None:
    """1-based line of the deepest node on the path loc that exists in the YAML tree."""
    line: int | None = None
    node = data
    for part in loc:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, TypeError, AttributeError):
            break
    if line is None and hasattr(data, "lc"):
        line = data.lc.line + 1
    return line


def key_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def dump_yaml(data: Any) -> str:
    """data as block-style YAML, keys in the order given (for people to read)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096  # a digest or an image reference stays on its line
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined,assignment]
    buffer = io.StringIO()
    yaml.dump(plain(data), buffer)
    return buffer.getvalue()
