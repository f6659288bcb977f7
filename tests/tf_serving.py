"""A loopback stand-in for TensorFlow Serving's REST predict API, backed by TensorFlow.

The TF Serving binary cannot be installed here, so ``ServingStandIn`` answers what it
answers: ``POST /v1/models/NAME:predict`` with ``{"signature_name", "instances"}`` in
row format gives ``{"predictions": [...]}`` computed by TensorFlow running the
SavedModel's signature; an instance naming an input the signature does not have gets
TF Serving's 400 (``JSON object: does not have named input``), an unknown model its
404, and ``fail_next`` / ``fail_always`` make it answer 503 (``fail_status``) as a pod
that is not ready does. Which SavedModel it serves comes from ``model_dir()``, called
per request, so a test can serve whatever image the Deployment runs (``unpack_model``
takes the model out of the pushed image in an OCI layout).
"""

from __future__ import annotations

import json
import tarfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.fixtures.echo_servers import _Loopback, _reply


class ServingStandIn:
    """TF Serving's REST predict API on 127.0.0.1, one SavedModel at a time."""

    def __init__(self, model_dir: Callable[[], Path], *, model_name: str = "digits") -> None:
        self.model_dir, self.model_name = model_dir, model_name
        self.fail_next = 0
        self.fail_always = False
        self.fail_status = 503  # what fail_next / fail_always answer
        self.requests: list[dict[str, Any]] = []  # bodies of the predict requests, in order
        self.paths: list[str] = []
        self._loaded: dict[Path, Any] = {}
        self._lock = threading.Lock()
        self._server: _Loopback | None = None
        self.url = ""

    def __enter__(self) -> ServingStandIn:
        self._server = _Loopback(self._handle)
        self.url = f"http://{self._server.host}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()

    def _handle(self, http: BaseHTTPRequestHandler, method: str) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        status, body = self.answer(http.path, http.rfile.read(length))
        _reply(http, status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def answer(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        self.paths.append(path)
        with self._lock:
            if self.fail_always or self.fail_next > 0:
                self.fail_next = max(0, self.fail_next - 1)
                return self.fail_status, {"error": "Servable not available yet: loading"}
            if path != f"/v1/models/{self.model_name}:predict":
                return 404, {"error": f"Servable not found for request: {path}"}
            body = json.loads(raw)
            self.requests.append(body)
            return self._predict(body)

    def _predict(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        import numpy as np
        import tensorflow as tf

        signature = self._signature(body.get("signature_name") or "serving_default")
        specs = signature.structured_input_signature[1]
        instances = body["instances"]
        for index, instance in enumerate(instances):
            for key in instance:
                if key not in specs:
                    return 400, {
                        "error": f"Failed to process element: {index} key: {key} of "
                        f"'instances' list. Error: INVALID_ARGUMENT: JSON object: does not "
                        f"have named input: {key}"
                    }
        inputs = {
            name: tf.constant(
                np.asarray([i[name] for i in instances], dtype=spec.dtype.as_numpy_dtype)
            )
            for name, spec in specs.items()
        }
        outputs = {k: v.numpy().tolist() for k, v in sorted(signature(**inputs).items())}
        if len(outputs) == 1:
            (rows,) = outputs.values()
            return 200, {"predictions": rows}
        count = len(instances)
        return 200, {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(count)]}

    def _signature(self, name: str) -> Any:
        import tensorflow as tf

        folder = self.model_dir()
        if folder not in self._loaded:
            self._loaded[folder] = tf.saved_model.load(str(folder))
        return self._loaded[folder].signatures[name]


def unpack_model(layout: Path, digest: str, dest: Path, *, model: str = "digits") -> Path:
    """The SavedModel folder (MODEL/1) out of the image digest in an OCI layout."""
    target = dest / digest.split(":", 1)[1][:12]
    export = target / "models" / model / "1"
    if export.is_dir():
        return export

    def blob(d: str) -> Path:
        return layout / "blobs" / "sha256" / d.split(":", 1)[1]

    manifest = json.loads(blob(digest).read_bytes())
    for layer in manifest["layers"]:
        with tarfile.open(blob(layer["digest"]), mode="r:*") as tar:
            tar.extractall(target, filter="data")
    if not (export / "saved_model.pb").is_file():
        raise AssertionError(f"image {digest} holds no /models/{model}/1/saved_model.pb")
    return export
