"""End to end: no secret ever reaches output, files, commits or error text.

Commands run through the real CLI entry point against real parts (an htpasswd registry,
git with a bare remote, a credentialed push URL) and against loopback stand-ins that
echo the credentials they are sent back: a registry (in a 400 error body, in a response
header, in an upload Location and a redirect with userinfo, and behind a token service),
the GitHub fake (in its error messages) and a git http remote (in 401/403/500 bodies and
after a redirect). Usernames differ from the default and passwords hold ':', '@', '/',
'%', a space, a quote, a backslash and non-ASCII. Then everything a user or a log
collector could see is searched for every secret in every encoding it travels in (see
``tests.fixtures.secret_forms``): stdout, stderr (``--debug`` tracebacks included),
``--json`` documents, the job summary, ``$GITHUB_OUTPUT``, every file in the clone and
the cache, and the full history (messages and trailers) of both repositories. The only
line a secret may be written on is GitHub's own ``::add-mask::`` command, which each run
in Actions must print once per secret it learns.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from leptonci.cli import main
from leptonci.core import redact
from leptonci.core.candidate import Candidate
from leptonci.core.errors import ExitCode
from leptonci.core.ledger import ReleaseRecord
from tests.adapters.test_images_daemonless import make_export
from tests.fixtures.echo_servers import REGISTRY_MODES, EchoGitRemote, EchoRegistry
from tests.fixtures.git_repo import Clone
from tests.fixtures.registry import RegistryServer
from tests.fixtures.secret_forms import leaks, without_mask_lines
from tests.github_fake import FakeGitHub

pytestmark = pytest.mark.service

WRONG_PASSWORD = "wrong-Reg1stry-pw-41"
GITHUB_TOKEN = "e2e-github-token-5f3a9c"  # not ghp_-shaped: only registration masks it
URL_PASSWORD = "e2e-git-url-secret-7c1d"
CI_USER = "ci-bot"  # not the fixtures' default user, so base64 of user:password misaligns
PASSWORD = 'k3y:p@ss/w%rd-ö "q\\kk?ö'  # ':', '@', '/', '%', non-ASCII, ' ', '"', '\\'
MODES: tuple[tuple[str, ...], ...] = ((), ("--json",), ("--debug",), ("--debug", "--json"))


def _candidate(folder: Path) -> Candidate:
    make_export(folder, seed=7)
    return Candidate(
        model="digits",
        version=1,
        root=folder,
        content_hash="sha256:" + "5e" * 32,
        metrics={"accuracy": 0.96, "loss": 0.1},
        eval_fingerprint="sha256:" + "e" * 64,
        eval_count=100,
    )


def _texts_under(folder: Path) -> str:
    out = []
    for path in folder.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(folder).parts:
            out.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


def _history(repo: Path) -> str:
    return subprocess.run(
        ["git", "log", "--all", "-p", "--format=%H%n%B%n%(trailers)"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _mask_line(value: str) -> str:
    return "::add-mask::" + value.replace("%", "%25")


class Runs:
    """Runs the CLI on a clone as separate processes would, keeping everything shown."""

    def __init__(
        self,
        clone: Clone,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.clone, self.monkeypatch, self.capsys = clone, monkeypatch, capsys
        self.summary, self.outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
        self.stdouts: list[str] = []
        self.stderrs: list[str] = []
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(self.summary))
        monkeypatch.setenv("GITHUB_OUTPUT", str(self.outputs))

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> int:
        with self.monkeypatch.context() as m:
            # a new process: it knows only the secrets it learns itself, and announces them
            m.setattr(redact, "_registry", redact._Registry())
            for key, value in (env or {}).items():
                if value:
                    m.setenv(key, value)
                else:
                    m.delenv(key, raising=False)
            code = main(["-C", str(self.clone.root), *args])
        out = self.capsys.readouterr()
        self.stdouts.append(out.out)
        self.stderrs.append(out.err)
        return code

    @property
    def last(self) -> str:
        return self.stdouts[-1] + self.stderrs[-1]

    def masks(self, run: int = -1) -> list[str]:
        lines = (self.stdouts[run] + self.stderrs[run]).splitlines()
        return [line for line in lines if line.startswith("::add-mask::")]

    def seen(self) -> str:
        """Every channel, without the ``::add-mask::`` lines."""
        clone = self.clone
        files = [self.summary, self.outputs]
        return without_mask_lines(
            [
                *self.stdouts,
                *self.stderrs,
                *(path.read_text() for path in files if path.exists()),
                _texts_under(clone.root),
                _history(clone.root),
                _history(clone.remote),
            ]
        )


@pytest.fixture
def runs(
    example_clone: Clone,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Runs:
    candidate = _candidate(tmp_path / "candidate")
    monkeypatch.setattr("leptonci.commands.build.train_model", lambda ctx, **kw: candidate)
    for key, value in {
        "LEPTONCI_REGISTRY_RETRY_DELAY": "0.01",
        "LEPTONCI_REGISTRY_RETRIES": "2",
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
        "GITHUB_REPOSITORY": "example/models",
        "GITHUB_API_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(key, value)
    return Runs(example_clone, tmp_path, monkeypatch, capsys)


def _error_line(text: str) -> str:
    [line] = [x for x in text.splitlines() if x.startswith(("leptonci: error:", "::error::"))]
    return line


def test_no_secret_reaches_any_output_file_or_commit(
    runs: Runs,
    release_in_dev: ReleaseRecord,
    registry_auth: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clone = runs.clone
    docker_auth = base64.b64encode(
        f"{registry_auth.username}:{registry_auth.password}".encode()
    ).decode()
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {registry_auth.host: {"auth": docker_auth}}})
    )
    monkeypatch.setenv("LEPTONCI_REGISTRY", f"{registry_auth.host}/team")
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    user = registry_auth.username
    wrong = {"LEPTONCI_REGISTRY_USERNAME": user, "LEPTONCI_REGISTRY_PASSWORD": WRONG_PASSWORD}
    right = {**wrong, "LEPTONCI_REGISTRY_PASSWORD": registry_auth.password}
    # 1. registry: a wrong password (plain, --json, --debug, in Actions), then right ones
    assert runs("build", "digits", env=wrong) == ExitCode.OUTSIDE
    assert "registry refused credentials" in runs.last
    assert runs("--json", "build", "digits", env=wrong) == ExitCode.OUTSIDE
    assert runs("--debug", "build", "digits", env=wrong) == ExitCode.OUTSIDE
    assert runs("build", "digits", env={**wrong, "GITHUB_ACTIONS": "true"}) == ExitCode.OUTSIDE
    assert _mask_line(WRONG_PASSWORD) in runs.masks()
    assert runs("build", "digits", "--dry-run", "--json", env=right) == 0
    assert runs("--json", "build", "digits", env={**right, "GITHUB_ACTIONS": "true"}) == 0
    digest = json.loads(runs.stdouts[-1])["digest"]  # the masks went to stderr, not here
    assert _mask_line(registry_auth.password) in runs.stderrs[-1].splitlines()
    # 2. the Docker config's auths entry (no variables set), in Actions
    docker = {"DOCKER_CONFIG": str(docker_config), "GITHUB_ACTIONS": "true"}
    assert runs("build", "digits", env=docker) == 0
    assert digest in runs.last
    for value in (docker_auth, registry_auth.password):
        assert runs.masks().count(_mask_line(value)) == 1, "announced once, before use"

    # 3. git: pushing to a URL with credentials in it fails, and says so without them
    bad_url = f"http://x-access-token:{URL_PASSWORD}@127.0.0.1:9/example/models.git"
    clone.git("remote", "set-url", "--push", "origin", bad_url)
    assert runs("promote", "--to", "staging") == ExitCode.OUTSIDE
    assert "push" in runs.last
    assert runs("--debug", "--json", "promote", "--to", "staging") == ExitCode.OUTSIDE
    # 4. plans: promote dry runs, text and JSON, in Actions
    assert runs("promote", "--to", "staging", "--dry-run", env={"GITHUB_ACTIONS": "true"}) == 0
    assert runs("--json", "promote", "--to", "staging", "--dry-run") == 0
    assert json.loads(runs.stdouts[-1])["dry_run"] is True
    clone.git("remote", "set-url", "--push", "origin", str(clone.remote))
    assert runs("promote", "--to", "staging") == 0
    assert runs("--json", "status") == 0

    seen = runs.seen()
    assert not leaks(
        seen,
        {
            "registry password": (registry_auth.password, user),
            "wrong registry password": (WRONG_PASSWORD, user),
            "docker config auth": (docker_auth, None),
            "GitHub token": (GITHUB_TOKEN, "x-access-token"),
            "git URL password": (URL_PASSWORD, "x-access-token"),
        },
    )
    assert "digits" in seen and "***" not in _history(clone.remote)


@pytest.fixture
def echo_registry(request: pytest.FixtureRequest) -> Iterator[EchoRegistry]:
    server = EchoRegistry(username=CI_USER, password=PASSWORD, bearer=bool(request.param))
    yield server
    server.stop()


@pytest.mark.parametrize("echo_registry", [False, True], ids=["basic", "bearer"], indirect=True)
def test_a_registry_echoing_credentials_back_leaks_none_of_them(
    runs: Runs, echo_registry: EchoRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTONCI_REGISTRY", f"{echo_registry.host}/team")
    monkeypatch.setenv("LEPTONCI_REGISTRY_USERNAME", CI_USER)
    monkeypatch.setenv("LEPTONCI_REGISTRY_PASSWORD", PASSWORD)
    modes = ("body",) if echo_registry.bearer else tuple(REGISTRY_MODES)
    for mode in modes:
        echo_registry.reset(mode)
        for flags in MODES:
            assert runs(*flags, "build", "digits") == ExitCode.OUTSIDE, runs.last
            line = _error_line(runs.stderrs[-1])
            assert REGISTRY_MODES[mode] in line, f"{mode}: the registry's own words are gone"
            assert len(line) < 500, f"{mode}: the error is not cut short: {line}"
            echo_registry.reset(mode)
        before = len(echo_registry.issued)
        assert runs("build", "digits", env={"GITHUB_ACTIONS": "true"}) == ExitCode.OUTSIDE
        masks = runs.masks()
        assert masks[0] == _mask_line(PASSWORD), f"{mode}: the password is announced first"
        assert len(masks) == len(set(masks)), f"{mode}: a value was announced twice"
        for token in echo_registry.issued[before:]:
            assert _mask_line(token) in masks, f"{mode}: a bearer token was not announced"
    secrets = {"registry password": (PASSWORD, CI_USER)}
    secrets |= {f"bearer token {i}": (t, None) for i, t in enumerate(echo_registry.issued)}
    assert not echo_registry.bearer or echo_registry.issued
    assert not leaks(runs.seen(), secrets)


def test_github_echoing_the_token_back_leaks_none_of_it(
    runs: Runs,
    release_in_dev: ReleaseRecord,
    github_fake: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    github_fake.echo_auth = True
    token = "e2e-wrong-gh-token-77f1c0"  # a token GitHub rejects: every call gets 401
    for key, value in github_fake.env(GITHUB_TOKEN=token, LEPTONCI_ACTOR="tester").items():
        monkeypatch.setenv(key, value)
    actions = {"GITHUB_ACTIONS": "true"}
    # recording the staging deployment fails (a warning), opening the prod PR fails (exit 3)
    assert runs("promote", "--to", "staging", env=actions) == 0
    assert runs.masks()[0] == _mask_line(token)
    for flags in MODES:
        assert runs(*flags, "promote", "--to", "prod") == ExitCode.OUTSIDE, runs.last
        line = _error_line(runs.stderrs[-1])
        assert "401" in line and len(line) < 500, line
    assert runs("promote", "--to", "prod", env=actions) == ExitCode.OUTSIDE
    assert runs.masks().count(_mask_line(token)) == 1
    assert not leaks(runs.seen(), {"GitHub token": (token, "x-access-token")})


@pytest.mark.parametrize(
    "status, redirect",
    [(401, False), (403, False), (500, False), (403, True)],
    ids=["401", "403", "500", "redirect"],
)
def test_a_git_remote_echoing_credentials_back_leaks_none_of_them(
    runs: Runs, release_in_dev: ReleaseRecord, status: int, redirect: bool
) -> None:
    server = EchoGitRemote(status=status, redirect=redirect)
    userinfo = f"{CI_USER}:{quote(PASSWORD, safe='')}@"
    server.credentials = userinfo
    try:
        url = f"http://{userinfo}{server.host}/example/models.git"
        runs.clone.git("remote", "set-url", "--push", "origin", url)
        for flags in MODES:
            assert runs(*flags, "promote", "--to", "staging") == ExitCode.OUTSIDE, runs.last
            assert "push" in _error_line(runs.stderrs[-1])
        actions = {"GITHUB_ACTIONS": "true"}
        assert runs("promote", "--to", "staging", env=actions) == ExitCode.OUTSIDE
        assert _mask_line(PASSWORD) in runs.masks()
    finally:
        server.stop()
    assert "access denied" in "".join(runs.stderrs), "the remote's body is still shown"
    assert not leaks(runs.seen(), {"git remote password": (PASSWORD, CI_USER)})


KEY_PASSWORD = 'sign:p@ss/w%rd-ö "k\\e?y'  # ':', '@', '/', '%', non-ASCII, ' ', '"', '\\'


def test_signing_keys_passwords_and_oidc_tokens_leak_nowhere(
    runs: Runs, registry: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leptonci.adapters import keyless
    from leptonci.commands import build as build_command
    from leptonci.core.signing import encrypted_pem, generate_signing_key, private_pem
    from tests.fixtures.keyless import REQUEST_TOKEN, FakeFulcio, FakeOidc

    candidate = build_command.train_model(None)  # type: ignore[arg-type]  # the runs fixture's
    monkeypatch.setattr(build_command, "planned_candidate", lambda ctx, model: candidate)
    key = generate_signing_key()
    encrypted, plain = encrypted_pem(key, KEY_PASSWORD), private_pem(key)
    key_file = tmp_path / "cosign.key"
    key_file.write_text(encrypted)
    monkeypatch.setenv("LEPTONCI_REGISTRY", f"{registry.host}/team")
    by_file = {"LEPTONCI_SIGNING_KEY_FILE": str(key_file)}
    # a wrong password, then none, with every output mode and in Actions
    wrong = {**by_file, "LEPTONCI_SIGNING_PASSWORD": "wrong-Sign-pw-6e"}
    for flags in MODES:
        assert runs(*flags, "build", "digits", env=wrong) == ExitCode.BAD_INPUT
        assert "wrong password" in _error_line(runs.stderrs[-1])
    assert runs("build", "digits", env={**wrong, "GITHUB_ACTIONS": "true"}) == ExitCode.BAD_INPUT
    assert _mask_line("wrong-Sign-pw-6e") in runs.masks()
    assert runs("build", "digits", env=by_file) == ExitCode.BAD_INPUT
    # the right one (cosign's variable), dry and real; the plain key in a variable
    right = {**by_file, "COSIGN_PASSWORD": KEY_PASSWORD}
    assert runs("--json", "build", "digits", "--dry-run", env=right) == 0
    assert "attach-attestation" in runs.last
    assert runs("--debug", "build", "digits", env={**right, "GITHUB_ACTIONS": "true"}) == 0
    assert _mask_line(KEY_PASSWORD) in runs.masks()
    assert runs("--json", "build", "digits", env={"LEPTONCI_SIGNING_KEY": plain}) == 0
    # keyless: the request token and the identity token
    oidc, fulcio = FakeOidc(), FakeFulcio()
    monkeypatch.setattr(keyless, "backend", lambda: fulcio)
    try:
        actions = {**oidc.env, "GITHUB_ACTIONS": "true", "LEPTONCI_SIGNING": "keyless"}
        assert runs("--json", "build", "digits", env=actions) == 0, runs.last
        assert _mask_line(REQUEST_TOKEN) in runs.masks() and oidc.issued
        assert _mask_line(oidc.issued[0]) in runs.masks()
        broken = {  # another repository: nothing attested there yet, so a token is asked for
            **actions,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bad-Request-tok-44",
            "LEPTONCI_REGISTRY": f"{registry.host}/other",
        }
        assert runs("--debug", "build", "digits", env=broken) == ExitCode.OUTSIDE
        assert "answered 401" in _error_line(runs.stderrs[-1])
    finally:
        oidc.stop()
    secrets = {
        "key password": (KEY_PASSWORD, None),
        "wrong key password": ("wrong-Sign-pw-6e", None),
        "OIDC request token": (REQUEST_TOKEN, None),
        "bad OIDC request token": ("bad-Request-tok-44", None),
        **{f"OIDC token {i}": (t, None) for i, t in enumerate(oidc.issued)},
    }
    body_lines = [line for line in plain.splitlines() if not line.startswith("-----")]
    body_lines += [line for line in encrypted.splitlines() if not line.startswith("-----")]
    secrets |= {f"private key line {i}": (line, None) for i, line in enumerate(body_lines)}
    assert not leaks(runs.seen(), secrets)
