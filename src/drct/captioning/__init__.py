"""Image captions for detectors that read text as well as pixels (De-fake's hybrid detector).

De-fake (Sha et al., CCS 2023) feeds a CLIP text embedding of each image's prompt to its
classifier; images without a prompt (every image of the DRCT data sets) get a BLIP caption
instead. Captioning is a job of its own, sharded and resumable like reconstruction, so its output
(a CSV of ``path, caption``) can be computed once and joined to the manifest by training.

- :mod:`drct.captioning.settings`: what decides a caption (model, revision, decoding).
- :mod:`drct.captioning.captioner`: load BLIP and caption a batch of images.
- :mod:`drct.captioning.caption_shard`: one shard of a manifest, resumable; merging shards.
- :mod:`drct.captioning.build_demo_captioner`: a tiny random-weight BLIP for demos and tests.
"""
