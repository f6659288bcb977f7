"""Image adapters: the daemonless OCI builder, the docker builder, registry and layout I/O.

- ``daemonless``: writes a reproducible OCI image (model layer, config, manifest).
- ``dockerbuild``: builds from a Dockerfile and pushes through a Docker engine.
- ``registry``: an OCI distribution registry through oras-py, with retries.
- ``layout``: an OCI image layout on disk (the build store and ``oci-layout:DIR``).
- ``transfer``: pushes to a registry or a layout; reads base images.
- ``credentials``: registry credentials from the environment or the Docker config.
"""
