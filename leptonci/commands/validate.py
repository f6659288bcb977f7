"""`leptonci validate`: the config, every ledger, and every environment's manifests.

Each source manifest is parsed (YAML errors name file and line) and checked against the
Kubernetes schemas (errors name file, line and key path); then each overlay is rendered
with kustomize, where kubectl or kustomize is installed, and the rendered objects are
checked too, and against each model's serving shape (``engine/serving.py``: the model
image in a place leptonci pins, mounted where the server reads it; with a cluster, image
volumes available there). Every error found is reported (each an annotation in GitHub Actions, on
its file and line), not only the first; any error exits 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from leptonci.adapters import kubeschema, kustomize
from leptonci.adapters.git import Git
from leptonci.core.config import CONFIG_FILE, Config, EnvironmentConfig, check_config
from leptonci.core.errors import ConfigError, ExitCode, LeptonError
from leptonci.core.files import read_text, shown
from leptonci.core.kustomization import KUSTOMIZATION_FILES, is_manifest_file
from leptonci.core.ledger import LEDGER_FILE, Ledger
from leptonci.core.yamldoc import line_of, load_yaml_with_lines, plain
from leptonci.engine import serving
from leptonci.engine.envfiles import read_ledger
from leptonci.engine.pending import merged_stale
from leptonci.runtime.attestations import trust_for
from leptonci.runtime.context import Context

_NOT_K8S = {"Kustomization", "Component"}


@dataclass(frozen=True)
class Checked:
    what: str
    detail: str


T = TypeVar("T")


def run(ctx: Context) -> int:
    checked, errors = validate_all(ctx)
    lines = [f"ok  {c.what}: {c.detail}" for c in checked]
    lines += [f"ERR {e}" for e in errors]
    for error in errors:
        ctx.out.error(
            str(error), file=getattr(error, "file", None), line=getattr(error, "line", None)
        )
    verdict = "valid" if not errors else f"{len(errors)} error(s) found"
    ctx.out.result(
        {
            "ok": not errors,
            "checked": [{"what": c.what, "detail": c.detail} for c in checked],
            "errors": [str(e) for e in errors],
        },
        "\n".join(lines) + f"\n{verdict}\n",
    )
    return int(ExitCode.BAD_INPUT) if errors else 0


def validate_repository(ctx: Context) -> list[Checked]:
    """Every check, raising the first error found (for callers that want one)."""
    checked, errors = validate_all(ctx)
    if errors:
        raise errors[0]
    return checked


def validate_all(ctx: Context) -> tuple[list[Checked], list[LeptonError]]:
    """(what was checked, every error found): each check runs even when another failed."""
    path = ctx.root / CONFIG_FILE
    try:
        text = read_text(path, root=ctx.root)
        config, found = check_config(text, file=CONFIG_FILE, root=ctx.root)
    except FileNotFoundError:
        return [], [ConfigError("file not found", file=CONFIG_FILE)]
    except ConfigError as exc:  # not text, or not YAML at all
        return [], [exc]
    errors: list[LeptonError] = list(found)
    if config is None or errors:
        return [], errors
    checked = _validate(ctx, config, errors)
    errors = _at_config_lines(errors, text)
    unique = {str(e): e for e in errors}  # a file read by two checks is reported once
    return checked, list(unique.values())


def _at_config_lines(errors: list[LeptonError], text: str) -> list[LeptonError]:
    """errors, each about leptonci.yaml that names a key but no line at its key's line."""
    tree = None
    out: list[LeptonError] = []
    for error in errors:
        if (
            type(error) is ConfigError
            and error.file == CONFIG_FILE
            and error.key
            and not error.line
        ):
            tree = tree if tree is not None else load_yaml_with_lines(text, file=CONFIG_FILE)
            parts = re.findall(r"\[\d+\]|[^.[]+", error.key)
            line = line_of(tree, [int(p[1:-1]) if p.startswith("[") else p for p in parts])
            if line is not None:
                error = ConfigError(
                    error.detail, file=error.file, line=line, key=error.key, hint=error.hint
                )
        out.append(error)
    return out


def _attempt(errors: list[LeptonError], check: Callable[[], T]) -> T | None:
    try:
        return check()
    except ConfigError as exc:
        errors.append(exc)
        return None


def _validate(ctx: Context, config: Config, errors: list[LeptonError]) -> list[Checked]:
    checked = [
        Checked(
            CONFIG_FILE, f"{len(config.models)} model(s), {len(config.environments)} environment(s)"
        )
    ]
    for name, model in config.models.items():
        folder = ctx.root / model.path
        if not folder.is_dir():
            errors.append(
                ConfigError(
                    f"model {name!r}: folder {model.path} does not exist",
                    file=CONFIG_FILE,
                    key=f"models.{name}.path",
                )
            )
            continue
        checked.append(Checked(f"model {name}", model.path))
    # Source files first (their errors name the file and line), then the rendered overlays.
    folders: list[tuple[str, Path]] = []
    env_folders: dict[str, list[Path]] = {}  # the overlay, then its bases
    broken: set[str] = set()
    for env in config.environments:
        folder = ctx.root / env.path
        try:
            kfile = kustomize.kustomization_file(folder, label=env.path)
        except ConfigError as exc:
            errors.append(exc)
            broken.add(env.name)
            continue
        if kfile is None:
            errors.append(
                ConfigError(
                    f"environment {env.name!r}: {env.path} has no kustomization "
                    f"({', '.join(KUSTOMIZATION_FILES)})",
                    file=CONFIG_FILE,
                    key="environments",
                )
            )
            broken.add(env.name)
            continue
        ledger = _attempt(errors, partial(read_ledger, ctx.root, env))
        if ledger is not None:
            checked.append(
                Checked(f"ledger {env.name}", f"{len(ledger.current)} current release(s)")
            )
            errors += _stale_merges(ctx, config, env, ledger)
        if env.require is not None:
            where = f"environments.{env.name}.require"
            trust = _attempt(errors, partial(trust_for, ctx, env.require, where=where))
            if trust is not None:
                signers = [f"{len(trust.keys)} key(s)"] + (
                    [trust.identity] if trust.identity else []
                )
                checked.append(
                    Checked(
                        f"require {env.name}",
                        f"{', '.join(trust.kinds)} signed by {' or '.join(signers)}",
                    )
                )
        bases = _attempt(errors, partial(_bases, kfile, root=ctx.root))
        env_folders[env.name] = [folder.resolve(), *sorted(bases or ())]
        for base in sorted(bases or ()):
            if all(base != f for _, f in folders):
                folders.append((f"base {base.relative_to(ctx.root.resolve())}", base))
        folders.append((f"overlay {env.name} sources", folder))
    sources: dict[Path, list[serving.SourceDoc]] = {}
    for label, folder in sorted(folders, key=lambda f: not f[0].startswith("base")):
        count = _check_folder(ctx.root, folder, errors, sources.setdefault(folder.resolve(), []))
        checked.append(Checked(label, f"{count} object(s)"))
    if errors:
        return checked  # a render of broken sources only repeats their errors
    for env in config.environments:
        if env.name in broken:
            continue
        env_sources = [s for f in env_folders.get(env.name, []) for s in sources.get(f, [])]
        rendered = _attempt(errors, partial(_render, ctx.root, env.path, env_sources))
        if rendered is None:
            continue
        checked.append(Checked(f"overlay {env.name}", f"renders {len(rendered)} valid object(s)"))
        ledger = _attempt(errors, partial(read_ledger, ctx.root, env))
        for found, problems in (
            serving.check_environment(
                config,
                env,
                rendered,
                ledger=ledger,
                sources=env_sources,
            ),
            serving.check_cluster(ctx, config, env),
        ):
            checked += [Checked(what, detail) for what, detail in found]
            errors += problems
    return checked


def _stale_merges(
    ctx: Context, config: Config, env: EnvironmentConfig, ledger: Ledger
) -> list[LeptonError]:
    """A release current in env whose promotion was already stale when it merged."""
    git = Git(ctx.root)
    if not git.is_repo() or not git.run("rev-parse", "--verify", "-q", "HEAD", check=False).ok:
        return []
    stale = merged_stale(config, git, env, rev="HEAD", ledger=ledger)
    return [
        ConfigError(
            f"environment {env.name!r}: {problem}",
            file=f"{env.path}/{LEDGER_FILE}",
            hint=f"restore the release before it with `leptonci rollback {env.name}`",
        )
        for _, problem in sorted(stale.items())
    ]


def _bases(path: Path, *, root: Path) -> set[Path]:
    folder = path.parent
    rel = shown(path, root)
    data = load_yaml_with_lines(read_text(path, root=root), file=rel)
    if not isinstance(data, CommentedMap):
        line = data.lc.line + 1 if hasattr(data, "lc") else 1
        raise ConfigError(
            "a kustomization must be a mapping (kind: Kustomization)", file=rel, line=line
        )
    resources = data.get("resources") or []
    if not isinstance(resources, CommentedSeq):
        raise ConfigError(
            "must be a list of files and folders",
            file=rel,
            line=line_of(data, ("resources",)),
            key="resources",
        )
    out = set()
    for res in resources:
        base = (folder / str(res)).resolve()
        if base.is_dir():
            out.add(base)
    return out


def _patch_files(folder: Path, *, root: Path) -> set[Path] | None:
    """The overlay's patch files: partial objects, checked once rendered, not alone.
    None when the kustomization cannot be read (so which files are patches is unknown)."""
    try:
        path = kustomize.kustomization_file(folder, label=str(folder))
    except ConfigError:
        return None
    if path is None:
        return set()
    try:
        data = plain(load_yaml_with_lines(read_text(path, root=root), file=str(path)))
    except (OSError, ConfigError):
        return None
    if not isinstance(data, dict):
        return None
    found = [p.get("path") for p in data.get("patches") or [] if isinstance(p, dict)]
    found += list(data.get("patchesStrategicMerge") or [])
    return {(folder / str(p)).resolve() for p in found if isinstance(p, str)}


def _check_folder(
    root: Path, folder: Path, errors: list[LeptonError], sources: list[serving.SourceDoc]
) -> int:
    count = 0
    patches = _patch_files(folder, root=root)
    for path in sorted(p for p in folder.iterdir() if p.is_file() and is_manifest_file(p.name)):
        rel = shown(path, root)
        if path.name == "ledger.yaml":
            continue
        if patches is None and path.name != "kustomization.yaml":
            continue  # the broken kustomization is the error to fix first
        if patches is not None and path.resolve() in patches:
            continue
        text = _attempt(errors, partial(read_text, path, root=root))
        if text is not None:
            count += check_manifest(text, file=rel, errors=errors, sources=sources)
    return count


def check_manifest(
    text: str,
    *,
    file: str,
    errors: list[LeptonError],
    sources: list[serving.SourceDoc] | None = None,
) -> int:
    """Parse one source manifest and check its Kubernetes objects against their schemas:
    how many it holds (each error found is appended to errors; each valid object to
    sources, where a problem found once rendered is reported)."""
    count = 0
    docs = _attempt(errors, partial(_documents, text, file=file))
    for offset, doc in docs or ():
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind and not (isinstance(kind, str) and kind in _NOT_K8S):
            valid = _attempt(errors, partial(_schema_check, doc, file=file, line_offset=offset))
            count += 1
            if valid and sources is not None:
                sources.append(serving.SourceDoc(_kind_name(doc), file, offset, doc))
    return count


def _documents(text: str, *, file: str) -> list[tuple[int, Any]]:
    docs: list[tuple[int, Any]] = []
    for chunk in _split_docs(text):
        start_line, body = chunk
        try:
            docs.append((start_line, load_yaml_with_lines(body, file=file)))
        except ConfigError as exc:
            line = (exc.line or 1) + start_line
            raise ConfigError(
                exc.detail, file=file, line=line, key=exc.key, hint=exc.hint
            ) from None
    return docs


def _split_docs(text: str) -> list[tuple[int, str]]:
    """Split a multi-document file, keeping each document's starting line offset."""
    chunks: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for i, line in enumerate(text.splitlines(keepends=True)):
        if line.rstrip("\r\n") == "---" or line.startswith("--- "):
            if any(s.strip() and not s.lstrip().startswith("#") for s in current):
                chunks.append((start, "".join(current)))
            current, start = [], i + 1
            continue
        current.append(line)
    if any(s.strip() and not s.lstrip().startswith("#") for s in current):
        chunks.append((start, "".join(current)))
    return chunks


def _schema_check(doc: Any, *, file: str, line_offset: int = 0) -> bool:
    """True, or the object's schema violation raised at its file, line and key."""
    found = kubeschema.violation(plain(doc))
    if found is None:
        return True
    line = line_of(doc, list(found.path))
    raise _violation(doc, found, file=file, line=None if line is None else line + line_offset)


def _violation(
    doc: Any,
    found: kubeschema.SchemaViolation,
    *,
    file: str,
    line: int | None,
    rendered: str | None = None,
) -> ConfigError:
    once = f" (once rendered: {rendered})" if rendered else ""
    return ConfigError(
        f"{_kind_name(doc)}: {found.message}{once}", file=file, line=line, key=found.key or None
    )


def _kind_name(doc: Any) -> str:
    """ "Deployment/digits-serving", as the serving contract names a rendered object."""
    metadata = doc.get("metadata")
    name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
    return f"{doc.get('kind')}/{name}"


def _render(
    root: Path, env_path: str, sources: list[serving.SourceDoc]
) -> list[dict[str, Any]] | None:
    """The overlay's rendered objects, each schema-checked (a violation reported at the
    source that declares the object, where there is one); None without kustomize."""
    if kustomize.renderer() is None:
        return None
    text = kustomize.render(root, env_path)
    rendered = f"{env_path} (rendered)"
    objects = []
    for _offset, doc in _documents(text, file=rendered):
        if isinstance(doc, dict) and doc.get("kind"):
            found = kubeschema.violation(plain(doc))
            if found is not None:
                where = serving.at_source(sources, _kind_name(doc), found.path)
                if where is None:  # not from a source here (a generator, a remote base)
                    raise _violation(doc, found, file=rendered, line=line_of(doc, found.path))
                file, line = where
                raise _violation(doc, found, file=file, line=line, rendered=env_path)
            objects.append(plain(doc))
    return objects
