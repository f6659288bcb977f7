"""The byte-preserving manifest editor: pin an image everywhere a folder references it.

``locate`` finds every scalar's exact span in YAML text, ``splice`` writes new values
into those spans and keeps every other byte, and ``edit`` knows where images live
(kustomize ``images:``, workload ``image:`` fields, KServe, Flux setters).
"""

from leptonci.manifests.edit import ImageTarget, current_image, edit_folder, edit_text, split_ref
from leptonci.manifests.splice import render

__all__ = ["ImageTarget", "current_image", "edit_folder", "edit_text", "render", "split_ref"]
