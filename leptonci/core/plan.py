"""Plans: the ordered, immutable list of actions a command will take.

Every command that writes first builds a ``Plan`` of typed actions
(``leptonci/core/actions.py``). ``--dry-run`` renders it; a real run hands the same
plan to the engine's applier, so there is never a second code path for dry-run.
Renderings (text, Markdown, JSON) all pass through the one redaction helper.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from leptonci.core.actions import Action
from leptonci.core.redact import redact, redact_obj


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

    def render_text(self) -> str:
        out = [f"Plan: {self.title}"]
        if not self.actions:
            out.append("  nothing to do")
        out.extend(render_action_lines(self.actions))
        out.extend(f"  note: {note}" for note in self.notes)
        return redact("\n".join(out) + "\n")

    def render_markdown(self, *, diffs: bool = True) -> str:
        """The plan as a numbered list, each file change with its diff (``diffs``)."""
        out = [f"### Plan: {self.title}", ""]
        if not self.actions:
            out.append("_nothing to do_")
        for i, action in enumerate(self.actions, 1):
            out.append(f"{i}. `{action.kind}` {action.summary}")
            text = action.shown() if diffs else ""
            if text:
                out += ["", "   ```diff" if action.diff() else "   ```json"]
                out += ["   " + line for line in text.rstrip("\n").splitlines()]
                out += ["   ```"]
        if self.notes:
            out.append("")
            out.extend(f"> {note}" for note in self.notes)
        return redact("\n".join(out) + "\n")

    def to_dict(self) -> dict[str, object]:
        data = {
            "title": self.title,
            "actions": [a.to_dict() for a in self.actions],
            "notes": list(self.notes),
        }
        redacted = redact_obj(data)
        assert isinstance(redacted, dict)
        return redacted

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


def render_action_lines(actions: tuple[Action, ...], *, start: int = 1) -> list[str]:
    """Numbered lines for actions, each file change followed by its diff (unredacted)."""
    out: list[str] = []
    for i, action in enumerate(actions, start):
        out.append(f"  {i}. [{action.kind}] {action.summary}")
        text = action.shown()
        if text:
            out.extend("     " + line for line in text.rstrip("\n").splitlines())
    return out
