"""Where a command's images live: a client for a registry host, and the store of an image.

Settings read from the environment: ``LEPTONCI_REGISTRY_USERNAME`` / ``_PASSWORD``
(credentials), ``LEPTONCI_REGISTRY_PLAIN_HTTP`` (extra hosts spoken to over http;
loopback always is), ``LEPTONCI_REGISTRY_RETRIES`` and ``LEPTONCI_REGISTRY_RETRY_DELAY``;
the deadlines every request is held to are the context's (``core.deadlines``).
"""

from __future__ import annotations

from leptonci.adapters.images.credentials import registry_credentials
from leptonci.adapters.images.layout import OciLayout
from leptonci.adapters.images.referrers import LayoutStore, RegistryStore, Store
from leptonci.adapters.images.registry import RegistryClient, RetryPolicy
from leptonci.core.errors import ConfigError
from leptonci.core.imageref import ImageRef
from leptonci.core.images import parse_destination, plain_http, plain_http_hosts
from leptonci.runtime.context import Context


def registry_client(ctx: Context, host: str) -> RegistryClient:
    try:
        attempts = int(ctx.env.get("LEPTONCI_REGISTRY_RETRIES", "4"))
        delay = float(ctx.env.get("LEPTONCI_REGISTRY_RETRY_DELAY", "0.5"))
    except ValueError:
        raise ConfigError("LEPTONCI_REGISTRY_RETRIES/_RETRY_DELAY must be numbers") from None
    extra = plain_http_hosts(ctx.env.get("LEPTONCI_REGISTRY_PLAIN_HTTP"))
    return RegistryClient(
        host,
        plain_http=plain_http(host, extra),
        credentials=registry_credentials(host, ctx.env),
        retry=RetryPolicy(attempts=max(1, attempts), base_delay=max(0.0, delay)),
        deadlines=ctx.deadlines,
    )


def image_store(ctx: Context, image: str) -> Store:
    """The store an image name lives in: a registry repository (``HOST/PATH``), or for
    a name without a host, the repository's layout under the ``oci-layout:`` folder."""
    ref = ImageRef.parse(image)
    if ref.registry is not None:
        return RegistryStore(registry_client(ctx, ref.registry), ref.repository)
    destination = parse_destination(ctx.config.registry)
    if destination.kind != "layout":
        raise ConfigError(
            f"image {image!r} names no registry host and the registry is not an oci-layout",
            hint="give the image as HOST/PATH",
        )
    return LayoutStore(OciLayout(ctx.root / destination.layout_dir / ref.repository))
