"""`leptonci status`: what each environment runs, from its ledger (and, live, its cluster)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leptonci.adapters import kube
from leptonci.core.config import ClusterConfig
from leptonci.core.errors import LeptonError
from leptonci.core.imageref import short_digest
from leptonci.core.ledger import ReleaseRecord
from leptonci.core.tables import render_table
from leptonci.engine.envfiles import read_ledger
from leptonci.runtime.context import Context


@dataclass(frozen=True)
class StatusRow:
    env: str
    model: str
    record: ReleaseRecord | None
    held: bool
    quarantined: int
    live: str | None = None  # image the cluster runs (with --live)
    drift: bool = False
    live_error: str = ""
    cluster: bool = True  # the environment has a cluster to ask (--live)

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        out: dict[str, Any] = {
            "environment": self.env,
            "model": self.model,
            "release": r.release if r else None,
            "image": r.image if r else None,
            "digest": r.digest if r else None,
            "verdict": _verdict(r),
            "verification": r.verification.result if r else None,
            "at": r.at if r else None,
            "by": r.by if r else None,
            "held": self.held,
            "quarantined": self.quarantined,
        }
        if self.live is not None or self.live_error:
            out.update(live=self.live, drift=self.drift, live_error=self.live_error or None)
        if not self.cluster:
            out["cluster"] = False  # --live has nothing to compare the ledger with
        return out


def _verdict(record: ReleaseRecord | None) -> str:
    if record is None or not record.verdict:
        return "-"
    return "pass" if record.passed else "fail"


def collect_status(ctx: Context, *, live: bool = False) -> list[StatusRow]:
    rows: list[StatusRow] = []
    for env in ctx.config.ordered_envs():
        ledger = read_ledger(ctx.root, env)
        for model in ctx.config.models:
            record = ledger.current_for(model)
            row = StatusRow(
                env.name,
                model,
                record,
                ledger.held,
                len(ledger.quarantine),
                cluster=env.cluster is not None,
            )
            if live and env.cluster is not None:
                row = _with_live(ctx, row, env.cluster)
            rows.append(row)
    return rows


def _with_live(ctx: Context, row: StatusRow, cluster: ClusterConfig) -> StatusRow:
    try:
        client = kube.load_api_client(cluster, env=ctx.env, root=ctx.root, deadlines=ctx.deadlines)
        image = kube.live_image(cluster, api_client=client)
    except LeptonError as exc:
        return StatusRow(**{**row.__dict__, "live_error": exc.message})
    expected = row.record.digest if row.record else None
    drift = bool(expected) and (image is None or not image.endswith(f"@{expected}"))
    if expected is None and image is not None:
        drift = True
    return StatusRow(**{**row.__dict__, "live": image, "drift": drift})


def render_status(rows: list[StatusRow], *, live: bool) -> str:
    headers = ["ENV", "MODEL", "RELEASE", "DIGEST", "VERDICT", "VERIFIED", "WHEN", "BY"]
    if live:
        headers += ["LIVE"]
    table = []
    for row in rows:
        r = row.record
        flags = (" (held)" if row.held else "") + (
            f" ({row.quarantined} quarantined)" if row.quarantined else ""
        )
        cells = [
            row.env + flags,
            row.model,
            r.release if r else "-",
            short_digest(r.digest) if r else "-",
            _verdict(r),
            r.verification.result if r else "-",
            r.at if r else "-",
            r.by if r else "-",
        ]
        if live:
            if not row.cluster:
                cells.append("no cluster")
            elif row.live_error:
                cells.append(f"error: {row.live_error}")
            elif row.live is None and row.record is None:
                cells.append("-")
            else:
                live_digest = (row.live or "").rpartition("@")[2]
                cells.append(("DRIFT " if row.drift else "ok ") + short_digest(live_digest))
        table.append(cells)
    return render_table(headers, table)
