"""The byte-preserving manifest editor: pin an image everywhere a folder references it.

``locate`` finds every scalar's exact span in YAML text (as ``nodes``), ``splice``
writes new values into those spans and keeps every other byte. Where images live:
``kustomize`` (``images:`` entries), ``workloads`` (``image:`` fields, KServe) and
``setters`` (Flux setter comments); ``target`` is the image to pin and ``edit`` applies
all of them to a file or a folder.
"""

from leptonci.core.imageref import split_ref
from leptonci.manifests.edit import current_image, edit_folder, edit_text, pins
from leptonci.manifests.splice import render
from leptonci.manifests.target import ImageTarget

__all__ = [
    "ImageTarget",
    "current_image",
    "edit_folder",
    "edit_text",
    "pins",
    "render",
    "split_ref",
]
