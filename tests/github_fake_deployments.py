"""Deployments in the fake GitHub: the Deployments API and deployment statuses.

leptonci opens a GitHub deployment when it lands a release in an environment and sets
its status once the rollout there is settled; these handlers keep both, newest first.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.github_fake_routes import NOW, Reply, _error, _invalid, _page


class DeploymentEndpoints:
    """Handlers for deployments and their statuses; mixed into FakeGitHub."""

    deployments: dict[int, dict[str, Any]]
    deployment_statuses: dict[int, list[dict[str, Any]]]
    _ids: itertools.count[int]

    def _obj(self, example: str, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def _base(self) -> str:
        raise NotImplementedError

    def _h_list_deployments(self, *, query: dict[str, str], payload: Any) -> Reply:
        items = [
            d
            for d in sorted(self.deployments.values(), key=lambda d: -d["id"])
            if query.get("environment") in (None, d["environment"])
        ]
        return _page(items, query, f"{self._base}/deployments")

    def _h_create_deployment(self, *, query: dict[str, str], payload: Any) -> Reply:
        if not isinstance(payload.get("ref"), str) or not payload["ref"]:
            return _invalid("Deployment", "ref")
        did = next(self._ids)
        extra = payload.get("payload")
        deployment = self._obj(
            "deployment",
            id=did,
            ref=payload["ref"],
            sha="c" * 40,
            environment=payload.get("environment") or "production",
            original_environment=payload.get("environment") or "production",
            description=payload.get("description"),
            payload=extra if isinstance(extra, dict) else {},
            url=f"{self._base}/deployments/{did}",
            statuses_url=f"{self._base}/deployments/{did}/statuses",
            created_at=NOW,
            updated_at=NOW,
        )
        self.deployments[did] = deployment
        self.deployment_statuses[did] = []
        return Reply(201, deployment)

    def _h_get_deployment(self, did: str, *, query: dict[str, str], payload: Any) -> Reply:
        deployment = self.deployments.get(int(did))
        return Reply(200, deployment) if deployment else _error(404, "Not Found")

    def _h_list_deployment_statuses(
        self, did: str, *, query: dict[str, str], payload: Any
    ) -> Reply:
        if int(did) not in self.deployments:
            return _error(404, "Not Found")
        url = f"{self._base}/deployments/{did}/statuses"
        return _page(self.deployment_statuses[int(did)], query, url)

    def _h_create_deployment_status(
        self, did: str, *, query: dict[str, str], payload: Any
    ) -> Reply:
        deployment = self.deployments.get(int(did))
        if deployment is None:
            return _error(404, "Not Found")
        states = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
        if payload.get("state") not in states:
            return _invalid("DeploymentStatus", "state")
        sid = next(self._ids)
        status = self._obj(
            "deployment-status",
            id=sid,
            state=payload["state"],
            description=payload.get("description") or "",
            environment=deployment["environment"],
            target_url=payload.get("target_url") or "",
            log_url=payload.get("log_url") or "",
            environment_url=payload.get("environment_url") or "",
            url=f"{self._base}/deployments/{did}/statuses/{sid}",
            deployment_url=deployment["url"],
            repository_url=self._base,
            created_at=NOW,
            updated_at=NOW,
        )
        self.deployment_statuses[int(did)].insert(0, status)
        return Reply(201, status)
