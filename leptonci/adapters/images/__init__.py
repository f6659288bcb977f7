"""Image adapters: the daemonless OCI builder, the docker builder, registry and layout I/O.

- ``daemonless``: writes a reproducible OCI image (model layer, config, manifest).
- ``tarlayer``: the model layer as a virtual tar, planned from a listing, read on demand.
- ``layercache``: each candidate's layer digest, kept beside it for re-pushes.
- ``dockerbuild``: builds from a Dockerfile and pushes through a Docker engine.
- ``registry``: an OCI distribution registry over ``requests``: blobs, uploads, manifests.
- ``registry_http``: the request funnel under it: timeouts, auth, retries, typed errors.
- ``registry_auth``: the registry's auth challenge, basic auth, bearer tokens per scope.
- ``upload``: one blob up to a registry, chunked and resumable.
- ``layout``: an OCI image layout on disk (the build store and ``oci-layout:DIR``).
- ``transfer``: pushes to a registry (blobs in parallel, mounts) or a layout; base images.
- ``credentials``: registry credentials from the environment or the Docker config.
"""
