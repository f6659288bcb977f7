"""Commit trailers <-> ledger records: what each promotion commit says about itself.

Every commit leptonci makes carries ``Leptonci-*`` trailers, enough that ``git log``
alone rebuilds an environment's release history (``leptonci history ENV --from-git``).
This module is pure: records in, ``(key, value)`` pairs out, and back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from leptonci.core.ledger import ReleaseRecord, Verification

PREFIX = "Leptonci-"
RECORD_ACTIONS = ("promote", "force", "rollback")

Trailers = tuple[tuple[str, str], ...]


def one_line(text: str) -> str:
    """Trailer values (and the ledger fields they mirror) are single lines."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def record_trailers(action: str, env: str, record: ReleaseRecord) -> Trailers:
    """Trailers for a commit that makes record current in env (promote, force, rollback)."""
    pairs: list[tuple[str, str]] = [
        ("Action", action),
        ("Env", env),
        ("Model", record.model),
        ("Release", record.release),
        ("Image", record.image),
        ("Digest", record.digest),
    ]
    if record.from_env:
        pairs.append(("From", record.from_env))
    pairs += [("Model-Hash", record.model_hash), ("Source", record.source_commit)]
    if record.eval_fingerprint:
        pairs.append(("Eval", record.eval_fingerprint))
    if record.verdict:
        pairs.append(("Verdict", "pass" if record.passed else "fail"))
        against = record.verdict.get("against")
        if against:
            pairs.append(("Gated-Against", str(against)))
        if record.verdict.get("baseline"):
            pairs.append(("Baseline", str(record.verdict["baseline"])))
        if record.verdict.get("checks"):
            checks = [one_line(str(c)) for c in record.verdict["checks"]]
            pairs.append(("Checks", json.dumps(checks, separators=(",", ":"))))
    if record.metrics:
        pairs.append(
            ("Metrics", json.dumps(dict(record.metrics), sort_keys=True, separators=(",", ":")))
        )
    pairs += [("At", record.at), ("By", one_line(record.by))]
    if record.reason:
        pairs.append(("Reason", one_line(record.reason)))
    pairs += _verification_pairs(record.verification)
    return tuple((PREFIX + k, v) for k, v in pairs if v != "")


def verification_trailers(env: str, record: ReleaseRecord, verification: Verification) -> Trailers:
    pairs = [
        ("Action", "verify"),
        ("Env", env),
        ("Model", record.model),
        ("Release", record.release),
        ("Digest", record.digest),
        *_verification_pairs(verification),
    ]
    return tuple((PREFIX + k, v) for k, v in pairs if v != "")


def simple_trailers(action: str, env: str, *, at: str, by: str, **extra: str) -> Trailers:
    """Trailers of commits that change no release: hold, resume, unblock."""
    pairs = [("Action", action), ("Env", env), ("At", at), ("By", one_line(by))]
    pairs += [(k.replace("_", "-").title(), one_line(v)) for k, v in extra.items() if v]
    return tuple((PREFIX + k, v) for k, v in pairs if v != "")


def _verification_pairs(verification: Verification) -> list[tuple[str, str]]:
    if verification.result == "unverified" and not verification.at:
        return []
    pairs = [("Verification", verification.result)]
    if verification.at:
        pairs.append(("Verified-At", verification.at))
    if verification.detail:
        pairs.append(("Verification-Detail", one_line(verification.detail)))
    if verification.parity:
        compact = json.dumps(dict(verification.parity), sort_keys=True, separators=(",", ":"))
        pairs.append(("Parity", compact))
    return pairs


def parse_trailers(lines: Iterable[str]) -> dict[str, str]:
    """``Leptonci-Key: value`` lines -> {"Key": value}; other lines are ignored."""
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key.lower().startswith(PREFIX.lower()):
            out[_canonical(key[len(PREFIX) :])] = value.strip()
    return out


def _canonical(key: str) -> str:
    return "-".join(part.capitalize() for part in key.split("-"))


def record_from_trailers(trailers: Mapping[str, str]) -> ReleaseRecord:
    """The record a promote/force/rollback commit made current (KeyError when incomplete,
    ValueError when a value is malformed)."""
    verdict: dict[str, object] = {}
    if "Verdict" in trailers:
        verdict["passed"] = trailers["Verdict"] == "pass"
        if trailers.get("Gated-Against"):
            verdict["against"] = trailers["Gated-Against"]
        if "Checks" in trailers:
            verdict["baseline"] = trailers.get("Baseline") or None
            verdict["checks"] = _json(trailers, "Checks", list)
    metrics = _json(trailers, "Metrics", dict) if trailers.get("Metrics") else {}
    return ReleaseRecord(
        release=trailers["Release"],
        model=trailers["Model"],
        model_hash=trailers.get("Model-Hash", ""),
        image=trailers["Image"],
        digest=trailers["Digest"],
        source_commit=trailers.get("Source", ""),
        metrics={str(k): _metric(k, v) for k, v in metrics.items()},
        eval_fingerprint=trailers.get("Eval", ""),
        verdict=verdict,
        from_env=trailers.get("From") or None,
        at=trailers.get("At", ""),
        by=trailers.get("By", ""),
        action=trailers.get("Action", "promote"),
        reason=trailers.get("Reason", ""),
        verification=verification_from_trailers(trailers),
    )


def _json(trailers: Mapping[str, str], key: str, kind: type) -> Any:
    """A JSON trailer's value; ValueError when it is not JSON of that kind (hand-written)."""
    value = json.loads(trailers[key])
    if not isinstance(value, kind):
        raise ValueError(f"{PREFIX}{key} is not a JSON {kind.__name__}")
    return value


def _metric(name: object, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{PREFIX}Metrics: {name} is not a number")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{PREFIX}Metrics: {name} is too large") from None


def verification_from_trailers(trailers: Mapping[str, str]) -> Verification:
    if "Verification" not in trailers:
        return Verification()
    return Verification(
        result=trailers["Verification"],
        at=trailers.get("Verified-At") or None,
        detail=trailers.get("Verification-Detail", ""),
        parity=_parity(trailers.get("Parity", "")),
    )


def _parity(text: str) -> dict[str, object]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}  # a hand-edited trailer: the numbers are lost, the result is not
    return dict(value) if isinstance(value, dict) else {}


@dataclass(frozen=True)
class CommitTrailers:
    commit: str
    trailers: Mapping[str, str]


def history_from_commits(env: str, commits: Sequence[CommitTrailers]) -> list[ReleaseRecord]:
    """Replay leptonci commits (oldest first) into env's records, newest first."""
    records: list[ReleaseRecord] = []
    for item in commits:
        t = item.trailers
        if t.get("Env") != env:
            continue
        action = t.get("Action", "")
        if action in RECORD_ACTIONS:
            try:
                records.append(record_from_trailers(t))
            except (KeyError, ValueError):
                continue  # a hand-written or truncated trailer block: not a record
        elif action == "verify":
            for i in range(len(records) - 1, -1, -1):
                if records[i].release == t.get("Release") and records[i].model == t.get("Model"):
                    records[i] = replace(records[i], verification=verification_from_trailers(t))
                    break
    records.reverse()
    return records
