"""Reading YAML a person wrote: every key's line, one error shape, plain values.

Every YAML file leptonci parses goes through ``yaml_parser``: its composer refuses a
document whose aliases would expand past ``MAX_ALIAS_NODES`` nodes, or refer to a node
from inside it (a "billion laughs" file, or a recursive one), and a mapping or list used
as a key (no Kubernetes or leptonci file has one; the round-trip loader fails on it with a
TypeError), before anything walks, copies or dumps the tree. ``load_yaml_with_lines`` parses with ruamel.yaml's round-trip
loader so that errors (and later checks on the parsed tree) can name the file, the line
and the key path; ``plain`` turns the tree into dicts and lists; ``line_of`` finds a key
path's line.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from leptonci.core.errors import ConfigError

# Nodes that aliases may add to one file, counted as if each alias were a copy of what it
# names: generous for anchors shared by hand (a gate block reused by ten models adds a
# hundred), and a billion-laughs file stops at its third level. README.md documents it
# ("Limits on what leptonci reads").
MAX_ALIAS_NODES = 10_000
MAX_DEPTH = 200  # nesting levels; deeper is no file a person wrote


class _BoundedComposer(Composer):  # type: ignore[misc]
    """ruamel.yaml's composer, counting what each alias would expand to."""

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        for key, _ in node.value:
            if not isinstance(key, ScalarNode):
                raise ComposerError(
                    None, None, "a mapping or list used as a key: keys are text", key.start_mark
                )
        return node

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._sizes: dict[int, int] = {}
        self._added = 0
        self._open: list[str] = []  # anchors of the collections being composed

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent) and event.anchor in self.anchors:
            if event.anchor in self._open:
                raise ComposerError(
                    None, None, f"alias *{event.anchor} inside its own anchor", event.start_mark
                )
            self._added += _expanded_size(self.anchors[event.anchor], self._sizes)
            if self._added > MAX_ALIAS_NODES:
                raise ComposerError(
                    None,
                    None,
                    f"aliases expand past {MAX_ALIAS_NODES:,} nodes at *{event.anchor}",
                    event.start_mark,
                )
        elif self.depth >= MAX_DEPTH:
            raise ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark
            )
        if isinstance(event, (SequenceStartEvent, MappingStartEvent)) and event.anchor:
            self._open.append(event.anchor)
            try:
                return super().compose_node(parent, index)
            finally:
                self._open.pop()
        return super().compose_node(parent, index)


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """Nodes in node's tree with every alias in it copied out (each node sized once)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, SequenceNode):
        size += sum(_expanded_size(item, sizes) for item in node.value)
    elif isinstance(node, MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = size
    return size


def yaml_parser(typ: str = "rt") -> YAML:
    """A ruamel.yaml instance of typ whose loads are bounded as the module says."""
    yaml = YAML(typ=typ, pure=True)  # the pure parser: the C one has its own composer
    yaml.Composer = _BoundedComposer
    return yaml


def load_yaml(text: str, *, file: str, typ: str = "rt") -> Any:
    """The YAML document in text; any fault is a ConfigError naming file and line."""
    yaml = yaml_parser(typ)
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
        problem = (exc.problem or exc.context or "").split("\n")[0]
        raise ConfigError(f"invalid YAML: {problem}", file=file, line=line) from None
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


def load_yaml_with_lines(text: str, *, file: str) -> Any:
    """The round-trip tree (its nodes know their lines) of the YAML document in text."""
    return load_yaml(text, file=file)


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
    yaml = YAML(typ="safe", pure=True)  # dumps only: no loads to bound
    yaml.default_flow_style = False
    yaml.width = 4096  # a digest or an image reference stays on its line
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined,assignment]
    buffer = io.StringIO()
    yaml.dump(plain(data), buffer)
    return buffer.getvalue()
