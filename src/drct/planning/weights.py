"""Which hub weights the DAG's jobs load: the list the ``fetch_weights`` rule fetches ahead of time.

Pure config (no imports of the libraries that load the weights), so the Snakefile can compute it at
parse time; :mod:`drct.fetch_weights` does the fetching.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drct.planning.captions import captioned_datasets

__all__ = ["weights_spec"]

#: the timm weights our own networks start from when pretrained (drct.training.networks): GramNet's
#: ResNet-18 trunk, F3Net's two Xception streams
TIMM_WEIGHTS_OF_OWN_NETWORKS = {"gramnet": "resnet18.tv_in1k", "f3net": "legacy_xception.tf_in1k"}


def weights_spec(config: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]], released: bool) -> list[dict[str, Any]]:
    """Every model the DAG's jobs load from a hub, as ``drct.fetch_weights.fetch_all`` entries.

    Reconstruction models used by the active ``jobs`` or by the published-reconstruction check
    (demo models built by the workflow are not fetched; local folders are checksummed), and
    the BLIP captioner where a De-fake run needs captions (not the demo's, not with released checkpoints), and
    pretrained backbones (De-fake's CLIP too) unless the checkpoints are the authors' released ones (those hold every weight).
    """
    spec: list[dict[str, Any]] = []
    used = {job["model"] for job in jobs}
    if config["reconstruction"].get("published_check"):
        used.add(config["reconstruction"]["published_check"]["model"])
    for model in config["reconstruction"]["models"]:
        if model["name"] in used and not model.get("build_demo"):
            spec.append({"name": f"reconstruction/{model['name']}", "kind": "diffusers", "model": model["model"],
                         "revision": model.get("revision")})
    if not released:
        for backbone in config["training"]["backbones"]:
            name = f"backbone/{backbone['name']}"
            if backbone["family"] == "timm" and backbone["pretrained"] is True:
                spec.append({"name": name, "kind": "timm", "model": backbone["model_name"]})
            elif backbone["family"] in TIMM_WEIGHTS_OF_OWN_NETWORKS and backbone["pretrained"] is True:
                spec.append({"name": name, "kind": "timm", "model": TIMM_WEIGHTS_OF_OWN_NETWORKS[backbone["family"]]})
            elif backbone["family"] in ("open_clip", "defake") and backbone["pretrained"]:
                spec.append({"name": name, "kind": "open_clip", "model": backbone["model_name"],
                             "pretrained": backbone["pretrained"]})
    captioning = config.get("captioning")
    # released checkpoints are the authors' Conv-B and UnivFD: no De-fake run, no captions
    if not released and captioning and not captioning.get("build_demo") and captioned_datasets(config):
        spec.append({"name": "captioner", "kind": "transformers", "model": captioning["model"],
                     "revision": captioning.get("revision")})
    return spec
