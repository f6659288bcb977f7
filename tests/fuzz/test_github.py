"""Fuzz what GitHub hands leptonci: the event payload file and its API's JSON answers.

The payload at GITHUB_EVENT_PATH is read for the pull request's number, head and base;
whatever it holds, the event is read (fields of the wrong shape count as absent, so the
GITHUB_REF fallback applies) or a GitHubError says why. The GraphQL and REST answers of
auto-merge and merge end in success or a GitHubError (exit 3).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import requests
from hypothesis import given
from hypothesis import strategies as st

from leptonci.adapters.github import GitHub, GitHubSettings, PullResult
from leptonci.commands.pull_request import pull_request_event
from leptonci.core.errors import ExitCode
from tests.fuzz.mutate import as_text, documents
from tests.fuzz.outcome import fuzz_settings, outcome

OUTSIDE = ExitCode.OUTSIDE
EVENT = json.dumps(
    {
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"sha": "a" * 40, "ref": "feature", "repo": {"full_name": "fork/repo"}},
            "base": {"sha": "b" * 40, "ref": "main", "repo": {"full_name": "acme/repo"}},
        },
        "repository": {"full_name": "acme/repo"},
    },
    indent=2,
)
AUTO_MERGE = json.dumps(
    {"errors": [{"type": "UNPROCESSABLE", "message": "Pull request is in clean status"}]}
)
MERGED = json.dumps({"sha": "c" * 40, "merged": True, "message": "Pull Request merged"})
FOLDER = Path(tempfile.mkdtemp(prefix="leptonci-fuzz-github-"))
PULL = PullResult(7, "https://github.test/acme/repo/pull/7", True, node_id="PR_1", head_sha="a")


def _event(data: bytes) -> None:
    path = FOLDER / "event.json"
    path.write_text(as_text(data))  # valid UTF-8: decoding is #11 item 9's
    env = {
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_REF": "refs/pull/7/merge",
        "GITHUB_REPOSITORY": "acme/repo",
        "GITHUB_SHA": "d" * 40,
    }
    event = pull_request_event(env)
    assert event.number is None or isinstance(event.number, int)


def test_the_seed_event() -> None:
    path = FOLDER / "seed.json"
    path.write_text(EVENT)
    event = pull_request_event({"GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "acme/repo"})
    assert (event.number, event.base_ref, event.from_fork) == (7, "main", True)


@fuzz_settings(400)
@given(documents(EVENT, "json"))
def test_event_payload(data: bytes) -> None:
    outcome("github event", lambda: _event(data), code=OUTSIDE)


def _github(answers: list[bytes]) -> GitHub:
    """A client whose every request is answered, in turn, with answers (status 200)."""
    gh = GitHub(GitHubSettings("acme/repo", "ghs_fuzz"), attempts=1, sleep=lambda _: None)

    def request(method: str, url: str, **_: object) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = answers.pop(0) if len(answers) > 1 else answers[0]
        return response

    gh._gh.session.request = request  # type: ignore[method-assign]
    return gh


@fuzz_settings(300)
@given(documents(AUTO_MERGE, "json"), documents(MERGED, "json") | st.just(MERGED.encode()))
def test_auto_merge_answers(answer: bytes, merged: bytes) -> None:
    gh = _github([answer, merged])
    call = lambda: gh.enable_auto_merge(pull=PULL, method="squash", headline="h", body="b")  # noqa: E731
    outcome("github api", call, code=OUTSIDE)
