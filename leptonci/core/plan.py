"""Plans: the ordered, immutable list of actions a command will take.

Every command that writes first builds a ``Plan``. ``--dry-run`` renders it; a real
run applies the same plan through handlers that adapters provide, so there is never a
second code path for dry-run. Actions know their old and new values, so file diffs
are derived and an action's inverse can be built from it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from leptonci.core.redact import redact, redact_obj


@dataclass(frozen=True)
class Action:
    """One step of a plan. Subclasses add the data their adapter needs."""

    kind: ClassVar[str] = "action"
    summary: str

    def details(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("summary", None)
        return data

    def diff(self) -> str:
        return ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "summary": self.summary}
        out.update(self.details())
        text = self.diff()
        if text:
            out["diff"] = text
        return out


@dataclass(frozen=True)
class WriteFile(Action):
    """Replace (or create, when ``old`` is None) a file under the repository root."""

    kind: ClassVar[str] = "write-file"
    path: str = ""
    old: str | None = None
    new: str = ""

    def details(self) -> dict[str, Any]:
        return {"path": self.path, "created": self.old is None}

    def diff(self) -> str:
        old_lines = (self.old or "").splitlines(keepends=True)
        new_lines = self.new.splitlines(keepends=True)
        lines = difflib.unified_diff(
            old_lines,
            new_lines,
            fromfile="/dev/null" if self.old is None else f"a/{self.path}",
            tofile=f"b/{self.path}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def inverse(self) -> WriteFile:
        if self.old is None:
            raise ValueError(f"cannot invert the creation of {self.path}")
        return WriteFile(summary=f"restore {self.path}", path=self.path, old=self.new, new=self.old)


@dataclass(frozen=True)
class GitCommit(Action):
    kind: ClassVar[str] = "git-commit"
    message: str = ""
    paths: tuple[str, ...] = ()
    trailers: tuple[tuple[str, str], ...] = ()

    def full_message(self) -> str:
        body = self.message.rstrip("\n")
        if self.trailers:
            body += "\n\n" + "\n".join(f"{k}: {v}" for k, v in self.trailers)
        return body + "\n"


@dataclass(frozen=True)
class GitPush(Action):
    kind: ClassVar[str] = "git-push"
    remote: str = "origin"
    ref: str = ""
    branch: str = ""


@dataclass(frozen=True)
class PushImage(Action):
    kind: ClassVar[str] = "push-image"
    repository: str = ""
    tags: tuple[str, ...] = ()
    digest: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ApiCall(Action):
    """A call to an outside API (GitHub, Kubernetes) the plan will make."""

    kind: ClassVar[str] = "api-call"
    system: str = ""
    method: str = ""
    target: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step(Action):
    """A step with no data of its own (train, verify, wait), shown for the reader."""

    kind: ClassVar[str] = "step"
    name: str = ""


@dataclass(frozen=True)
class Plan:
    title: str
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.actions

    def then(self, *actions: Action) -> Plan:
        return Plan(self.title, self.actions + tuple(actions), self.notes)

    def with_note(self, note: str) -> Plan:
        return Plan(self.title, self.actions, (*self.notes, note))

    def files(self) -> tuple[WriteFile, ...]:
        return tuple(a for a in self.actions if isinstance(a, WriteFile))

    def render_text(self) -> str:
        out = [f"Plan: {self.title}"]
        if not self.actions:
            out.append("  nothing to do")
        for i, action in enumerate(self.actions, 1):
            out.append(f"  {i}. [{action.kind}] {action.summary}")
            text = action.diff()
            if text:
                out.extend("     " + line for line in text.rstrip("\n").splitlines())
        out.extend(f"  note: {note}" for note in self.notes)
        return redact("\n".join(out) + "\n")

    def render_markdown(self) -> str:
        out = [f"### Plan: {self.title}", ""]
        if not self.actions:
            out.append("_nothing to do_")
        for i, action in enumerate(self.actions, 1):
            out.append(f"{i}. `{action.kind}` {action.summary}")
            text = action.diff()
            if text:
                out += ["", "   ```diff"]
                out += ["   " + line for line in text.rstrip("\n").splitlines()]
                out += ["   ```"]
        if self.notes:
            out.append("")
            out.extend(f"> {note}" for note in self.notes)
        return redact("\n".join(out) + "\n")

    def to_dict(self) -> dict[str, Any]:
        data = {
            "title": self.title,
            "actions": [a.to_dict() for a in self.actions],
            "notes": list(self.notes),
        }
        return redact_obj(data)  # type: ignore[return-value]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


A = TypeVar("A", bound=Action)
Handler = Callable[[Any], None]


def apply_plan(
    plan: Plan,
    handlers: Mapping[type[Action], Handler],
    *,
    on_step: Callable[[int, Action], None] | None = None,
) -> None:
    """Execute a plan's actions in order through the handler registered per type.

    A missing handler is a programming error, caught before anything runs.
    """
    missing = {type(a).__name__ for a in plan.actions if _handler_for(a, handlers) is None}
    if missing:
        raise TypeError(f"no handler for {', '.join(sorted(missing))}")
    for i, action in enumerate(plan.actions, 1):
        if on_step is not None:
            on_step(i, action)
        handler = _handler_for(action, handlers)
        assert handler is not None
        handler(action)


def _handler_for(action: Action, handlers: Mapping[type[Action], Handler]) -> Handler | None:
    for cls in type(action).__mro__:
        if cls in handlers:
            return handlers[cls]  # type: ignore[index]
    return None


def actions_of(plan: Plan, cls: type[A]) -> Iterable[A]:
    return (a for a in plan.actions if isinstance(a, cls))


def field_names(cls: type[Action]) -> list[str]:
    return [f.name for f in fields(cls)]
