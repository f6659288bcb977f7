"""Registry credentials: from the environment or the Docker config file.

Order: ``LEPTONCI_REGISTRY_USERNAME`` / ``LEPTONCI_REGISTRY_PASSWORD``, then
``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``): an inline ``auths``
entry (base64 ``user:password``), a per-host ``credHelpers`` entry or the ``credsStore``.
Every value found is registered with ``redact`` at once, so it can never be printed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leptonci.adapters import proc
from leptonci.core.errors import ConfigError, LeptonError
from leptonci.core.files import read_text
from leptonci.core.redact import register_credentials, register_secret

USERNAME_VAR = "LEPTONCI_REGISTRY_USERNAME"
PASSWORD_VAR = "LEPTONCI_REGISTRY_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)  # never in a repr, a log line or a plan


def docker_config_path(env: Mapping[str, str]) -> Path:
    folder = env.get("DOCKER_CONFIG")
    if folder:
        return Path(folder) / "config.json"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".docker" / "config.json"


def registry_credentials(host: str, env: Mapping[str, str]) -> Credentials | None:
    """Credentials for a registry host, or None when nothing is configured."""
    user, password = env.get(USERNAME_VAR), env.get(PASSWORD_VAR)
    if user or password:
        if not (user and password):
            raise ConfigError(f"set both {USERNAME_VAR} and {PASSWORD_VAR}, or neither")
        register_credentials(user, password)
        return Credentials(user, password)
    return _from_docker_config(host, docker_config_path(env))


def _host_keys(host: str) -> list[str]:
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in ("registry-1.docker.io", "docker.io", "index.docker.io"):
        keys.append("https://index.docker.io/v1/")
    return keys


def _from_docker_config(host: str, path: Path) -> Credentials | None:
    try:
        data = json.loads(read_text(path))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot read the Docker config: {type(exc).__name__}", file=str(path)
        ) from None
    if not isinstance(data, dict):
        return None
    auths = data.get("auths") or {}
    for key in _host_keys(host):
        entry = auths.get(key)
        if isinstance(entry, dict):
            creds = _from_auth_entry(entry, path)
            if creds is not None:
                return creds
    helper = (data.get("credHelpers") or {}).get(host) or data.get("credsStore")
    if helper:
        return _from_helper(str(helper), host)
    return None


def _from_auth_entry(entry: Mapping[str, object], path: Path) -> Credentials | None:
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        register_secret(auth)
        try:
            name, _, secret = base64.b64decode(auth).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(
                "an 'auths' entry is not base64 of user:password", file=str(path)
            ) from None
        register_credentials(name, secret)
        return Credentials(name, secret) if name and secret else None
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str) and user and password:
        register_credentials(user, password)
        return Credentials(user, password)
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        register_secret(token)
        return Credentials("<token>", token)
    return None


def _from_helper(helper: str, host: str) -> Credentials | None:
    try:
        result = proc.run(
            [f"docker-credential-{helper}", "get"], input=host, check=False, timeout=30
        )
    except LeptonError:
        return None  # helper not installed: behave as if nothing is stored
    if not result.ok:
        return None
    try:
        payload = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None
    user, secret = payload.get("Username"), payload.get("Secret")
    if not (isinstance(user, str) and isinstance(secret, str) and secret):
        return None
    register_credentials(user, secret)
    return Credentials(user, secret)
