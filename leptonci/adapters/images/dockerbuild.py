"""The docker builder: a Dockerfile built and pushed through a Docker engine (docker SDK).

The engine is the one ``DOCKER_HOST`` names. The build context is a temp folder with
the Dockerfile (leptonci's template, or the model's own ``image.dockerfile``) and
``model/`` (the SavedModel); labels and build args come from the build spec. The
digest is not known before the push; the caller reads it back from the registry.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from leptonci.adapters.images.credentials import Credentials
from leptonci.core.errors import ConfigError, OutsideError, RegistryAuthError, RegistryError
from leptonci.core.images import BuildSpec, image_labels
from leptonci.core.redact import excerpt, redact


def default_dockerfile() -> str:
    return resources.files("leptonci").joinpath("templates/Dockerfile").read_text()


def _docker_client(env: Mapping[str, str]) -> Any:
    import docker  # heavy; only the docker builder needs it
    import docker.errors

    try:
        return docker.from_env(environment=dict(env))
    except docker.errors.DockerException as exc:
        raise OutsideError(
            redact(
                f"cannot reach the Docker engine at {env.get('DOCKER_HOST', 'the default socket')}: {exc}"
            ),
            hint="start dockerd (scripts/start-services.sh) or use builder: daemonless",
        ) from None


def _link_tree(source: Path, target: Path) -> None:
    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)


def build_args(spec: BuildSpec) -> dict[str, str]:
    return {
        "BASE_IMAGE": spec.base or "scratch",
        "MODEL_NAME": spec.model,
        "MODEL_VERSION": str(spec.version),
        "MODEL_BASE_PATH": spec.model_base_path,
    }


def docker_build(spec: BuildSpec, *, image: str, dockerfile: str, env: Mapping[str, str]) -> str:
    """Build image:TAG for every tag in spec.tags; returns the engine's image id."""
    import docker.errors

    client = _docker_client(env)
    with tempfile.TemporaryDirectory(prefix="leptonci-build-") as tmp:
        context = Path(tmp)
        (context / "Dockerfile").write_text(dockerfile)
        _link_tree(spec.export_dir, context / "model")
        try:
            built, _logs = client.images.build(
                path=str(context),
                dockerfile="Dockerfile",
                tag=f"{image}:{spec.tags[0]}",
                labels=image_labels(spec),
                buildargs=build_args(spec),
                rm=True,
                forcerm=True,
                pull=False,
            )
        except docker.errors.BuildError as exc:
            tail = " | ".join(
                str(line.get("stream") or line.get("error") or "").strip()
                for line in list(exc.build_log)[-6:]
            )
            raise ConfigError(
                redact(f"docker build of {spec.model} failed: {exc.msg}; {tail}"),
                hint="check image.base (no pulls from a registry that is unreachable) and the Dockerfile",
            ) from None
        except docker.errors.APIError as exc:
            raise OutsideError(
                f"Docker engine failed to build {spec.model}: {excerpt(str(exc))}"
            ) from None
    for tag in spec.tags[1:]:
        built.tag(image, tag)
    return str(built.id)


def docker_push(
    *,
    image: str,
    tags: tuple[str, ...],
    credentials: Credentials | None,
    env: Mapping[str, str],
) -> None:
    """Push image:TAG for each tag through the engine; errors become RegistryError."""
    import docker.errors

    client = _docker_client(env)
    auth = (
        {"username": credentials.username, "password": credentials.password}
        if credentials
        else None
    )
    host = image.split("/", 1)[0]
    repo = image.split("/", 1)[-1]
    for tag in tags:
        try:
            stream = client.images.push(image, tag=tag, stream=True, decode=True, auth_config=auth)
            for event in stream:
                if "error" in event or "errorDetail" in event:
                    text = excerpt(str(event.get("error") or event.get("errorDetail")))
                    if any(
                        word in text.lower()
                        for word in ("unauthorized", "authentication", "denied")
                    ):
                        raise RegistryAuthError(
                            f"registry refused credentials for {host}/{repo}",
                            hint="check LEPTONCI_REGISTRY_USERNAME/PASSWORD or your docker login",
                        )
                    raise RegistryError(
                        f"docker push of {image}:{tag} failed: {text}",
                        hint="check that the registry is up and reachable, then run again",
                    )
        except docker.errors.APIError as exc:
            raise RegistryError(
                f"docker push of {image}:{tag} failed: {excerpt(str(exc))}"
            ) from None
