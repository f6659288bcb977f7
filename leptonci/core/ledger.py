"""The ledger: per environment, what is current, what came before, what is blocked.

A ledger is a readable YAML file in the environment's folder (``ledger.yaml``). This
module is pure: it parses text into immutable records and renders records back to
text. Every change returns a new ``Ledger``; adapters write the text.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from leptonci.core.errors import ConfigError
from leptonci.core.parity import Sample, sample_from_dict
from leptonci.core.yamldoc import key_path, line_of, load_yaml, load_yaml_with_lines

LEDGER_FILE = "ledger.yaml"
HEADER = (
    "# leptonci ledger for environment {env}.\n"
    "# Written by leptonci on every promotion, rollback, verification, hold and quarantine.\n"
    "# `leptonci history {env} --from-git` rebuilds the history from commit trailers.\n"
)


@dataclass(frozen=True)
class Verification:
    result: str = "unverified"  # unverified | pending | verified | failed | skipped
    at: str | None = None
    detail: str = ""
    # prediction parity's numbers (core/parity.py ParityResult.to_dict), when it ran
    parity: Mapping[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.result in ("verified", "skipped")


@dataclass(frozen=True)
class ReleaseRecord:
    """One release as it entered an environment."""

    release: str
    model: str
    model_hash: str
    image: str
    digest: str
    source_commit: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    eval_fingerprint: str = ""
    verdict: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)  # the training params it was built with
    from_env: str | None = None
    at: str = ""
    by: str = ""
    action: str = "promote"  # promote | rollback | force
    reason: str = ""
    verification: Verification = field(default_factory=Verification)
    sample: Sample | None = None  # prediction parity: recorded eval inputs and outputs

    @property
    def image_ref(self) -> str:
        return f"{self.image}@{self.digest}"

    @property
    def passed(self) -> bool:
        return bool(self.verdict.get("passed", False))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "release": self.release,
            "model": self.model,
            "model_hash": self.model_hash,
            "image": self.image,
            "digest": self.digest,
            "source_commit": self.source_commit,
            "metrics": dict(self.metrics),
            "eval_fingerprint": self.eval_fingerprint,
            "verdict": dict(self.verdict),
            **({"params": dict(self.params)} if self.params else {}),
            "from": self.from_env,
            "at": self.at,
            "by": self.by,
            "action": self.action,
        }
        if self.reason:
            out["reason"] = self.reason
        out["verification"] = {
            "result": self.verification.result,
            "at": self.verification.at,
            "detail": self.verification.detail,
            **({"parity": dict(self.verification.parity)} if self.verification.parity else {}),
        }
        if self.sample is not None:
            out["sample"] = self.sample.to_dict()
        return out


@dataclass(frozen=True)
class Hold:
    reason: str
    at: str = ""
    by: str = ""


@dataclass(frozen=True)
class Quarantine:
    digest: str
    release: str = ""
    reason: str = ""
    at: str = ""
    by: str = ""


@dataclass(frozen=True)
class Ledger:
    environment: str
    current: Mapping[str, ReleaseRecord] = field(default_factory=dict)  # model -> record
    history: tuple[ReleaseRecord, ...] = ()  # newest first, current ones excluded
    holds: tuple[Hold, ...] = ()
    quarantine: tuple[Quarantine, ...] = ()
    history_limit: int = 50

    # -- queries -----------------------------------------------------------------
    def current_for(self, model: str) -> ReleaseRecord | None:
        return self.current.get(model)

    def find(self, release: str) -> ReleaseRecord | None:
        for record in (*self.current.values(), *self.history):
            if record.release == release:
                return record
        return None

    def previous_for(self, model: str) -> ReleaseRecord | None:
        """The newest earlier release of model whose digest is not quarantined."""
        now = self.current.get(model)
        for record in self.history:
            if record.model != model or self.is_quarantined(record.digest):
                continue
            if now is not None and record.digest == now.digest:
                continue
            return record
        return None

    def is_quarantined(self, digest: str) -> bool:
        return any(q.digest == digest for q in self.quarantine)

    @property
    def held(self) -> bool:
        return bool(self.holds)

    # -- changes -----------------------------------------------------------------
    def with_release(self, record: ReleaseRecord) -> Ledger:
        """Make record current for its model; the one it replaces moves to history."""
        history = list(self.history)
        old = self.current.get(record.model)
        if old is not None:
            history.insert(0, old)
        current = dict(self.current)
        current[record.model] = record
        return replace(self, current=current, history=tuple(history[: self.history_limit]))

    def with_verification(self, model: str, verification: Verification) -> Ledger:
        record = self.current.get(model)
        if record is None:
            raise ConfigError(f"no current release of {model!r} in {self.environment}")
        current = dict(self.current)
        current[model] = replace(record, verification=verification)
        return replace(self, current=current)

    def with_hold(self, hold: Hold) -> Ledger:
        return replace(self, holds=(*self.holds, hold))

    def without_holds(self) -> Ledger:
        return replace(self, holds=())

    def with_quarantine(self, entry: Quarantine) -> Ledger:
        if self.is_quarantined(entry.digest):
            return self
        return replace(self, quarantine=(*self.quarantine, entry))

    def without_quarantine(self, release_or_digest: str) -> Ledger:
        kept = tuple(q for q in self.quarantine if release_or_digest not in (q.digest, q.release))
        return replace(self, quarantine=kept)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "current": {m: r.to_dict() for m, r in sorted(self.current.items())},
            "history": [r.to_dict() for r in self.history],
            "holds": [{"reason": h.reason, "at": h.at, "by": h.by} for h in self.holds],
            "quarantine": [
                {
                    "digest": q.digest,
                    "release": q.release,
                    "reason": q.reason,
                    "at": q.at,
                    "by": q.by,
                }
                for q in self.quarantine
            ],
        }


def empty_ledger(environment: str, *, history_limit: int = 50) -> Ledger:
    return Ledger(environment=environment, history_limit=history_limit)


def render_ledger(ledger: Ledger) -> str:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    yaml.dump(_rows_in_flow(ledger.to_dict()), buf)
    return HEADER.format(env=ledger.environment) + buf.getvalue()


def _rows_in_flow(data: Any) -> Any:
    """A prediction sample's rows one per line (``[[0.0, 0.5, ...]]``), not a number each."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key == "sample" and isinstance(value, dict):
                out[key] = {k: _flow_rows(v) if k in _ROWS else v for k, v in value.items()}
            else:
                out[key] = _rows_in_flow(value)
        return out
    if isinstance(data, list):
        return [_rows_in_flow(item) for item in data]
    return data


_ROWS = ("instances", "predictions")


def _flow_rows(rows: list[Any]) -> CommentedSeq:
    seq = CommentedSeq()
    for row in rows:
        if isinstance(row, (list, dict)):
            inner: Any = CommentedSeq(row) if isinstance(row, list) else CommentedMap(row)
            inner.fa.set_flow_style()
            seq.append(inner)
        else:
            seq.append(row)
    return seq


def parse_ledger(text: str, *, file: str, history_limit: int = 50) -> Ledger:
    data = load_yaml(text, file=file, typ="safe") or {}
    if not isinstance(data, dict) or "environment" not in data:
        raise ConfigError("not a leptonci ledger (no 'environment' key)", file=file, line=1)
    where: tuple[Any, ...] = ()  # the entry being read, for the error's line
    try:
        current = {}
        where = ("current",)
        for m, r in (data.get("current") or {}).items():
            where = ("current", m)
            current[str(m)] = _record(r)
        history = []
        for i, r in enumerate(data.get("history") or []):
            where = ("history", i)
            history.append(_record(r))
        holds = []
        for i, h in enumerate(data.get("holds") or []):
            where = ("holds", i)
            holds.append(
                Hold(str(h.get("reason", "")), str(h.get("at") or ""), str(h.get("by") or ""))
            )
        quarantine = []
        for i, q in enumerate(data.get("quarantine") or []):
            where = ("quarantine", i)
            quarantine.append(
                Quarantine(
                    digest=str(q["digest"]),
                    release=str(q.get("release") or ""),
                    reason=str(q.get("reason") or ""),
                    at=str(q.get("at") or ""),
                    by=str(q.get("by") or ""),
                )
            )
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
        problem = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError(
            f"malformed ledger entry: {problem}",
            file=file,
            line=_line(text, where),
            key=key_path(where) or None,
        ) from None
    return Ledger(
        environment=str(data["environment"]),
        current=current,
        history=tuple(history),
        holds=tuple(holds),
        quarantine=tuple(quarantine),
        history_limit=history_limit,
    )


def _line(text: str, loc: tuple[Any, ...]) -> int:
    """The line of the entry at loc: only an error needs it, so only an error reads the
    text again with line numbers."""
    try:
        return line_of(load_yaml_with_lines(text, file=""), loc) or 1
    except ConfigError:
        return 1


def _record(data: Mapping[str, Any]) -> ReleaseRecord:
    ver = data.get("verification") or {}
    return ReleaseRecord(
        release=str(data["release"]),
        model=str(data["model"]),
        model_hash=str(data.get("model_hash") or ""),
        image=str(data["image"]),
        digest=str(data["digest"]),
        source_commit=str(data.get("source_commit") or ""),
        metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
        eval_fingerprint=str(data.get("eval_fingerprint") or ""),
        verdict=dict(data.get("verdict") or {}),
        params=dict(data.get("params") or {}),
        from_env=data.get("from"),
        at=str(data.get("at") or ""),
        by=str(data.get("by") or ""),
        action=str(data.get("action") or "promote"),
        reason=str(data.get("reason") or ""),
        verification=Verification(
            result=str(ver.get("result") or "unverified"),
            at=ver.get("at"),
            detail=str(ver.get("detail") or ""),
            parity=dict(ver.get("parity") or {}),
        ),
        sample=sample_from_dict(data["sample"]) if data.get("sample") else None,
    )
