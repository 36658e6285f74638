"""BLIP captioning for De-fake: the demo captioner, decoding, sharded resumable runs, merging.

Expected captions come from direct ``BlipForConditionalGeneration.generate`` calls written here
(prompt handling done by hand), never from the code under test. Everything runs on the tiny
random-weight demo captioner on CPU.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers.manifests import write_manifest
from PIL import Image

from drct.captioning import caption_shard as shard_mod
from drct.captioning.build_demo_captioner import build_demo_blip, build_demo_captioner, build_demo_tokenizer
from drct.captioning.caption_shard import (
    caption_manifest,
    journal_path,
    merge_captions,
    read_shard_csv,
    select_shard,
)
from drct.captioning.captioner import CaptionerUnavailable, caption_images, load_captioner
from drct.captioning.settings import DEFAULT_MODEL, DEFAULT_REVISION, CaptionSettings
from drct.data.manifest import read_manifest

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return build_demo_captioner(tmp_path_factory.mktemp("blip") / "blip-demo", seed=0)


@pytest.fixture(scope="module")
def settings(demo_dir) -> CaptionSettings:
    return CaptionSettings(model=str(demo_dir), revision=None, num_beams=1, max_length=12, min_length=4,
                           batch_size=3, device="cpu")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    return write_manifest(root, [("demo", "real", "train", 0, 7), ("demo", "sdv14", "train", 1, 6)], size=40)


def _direct_caption(model, processor, image: Image.Image, prompt: str, **generate) -> str:
    """The reference: BLIP's generate on one image, the prompt's tokens cut off by hand."""
    prompt_ids = processor.tokenizer(prompt).input_ids  # [CLS] ... [SEP]
    pixels = processor.image_processor(image.convert("RGB"), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model.generate(pixel_values=pixels, input_ids=torch.tensor([prompt_ids]), do_sample=False, **generate)
    # BLIP's generate swaps [CLS] for [DEC] and drops the final [SEP]: the continuation starts after them
    assert out[0, 0].item() == processor.tokenizer.convert_tokens_to_ids("[DEC]")
    assert out[0, 1 : len(prompt_ids) - 1].tolist() == prompt_ids[1:-1]
    return processor.tokenizer.decode(out[0, len(prompt_ids) - 1 :], skip_special_tokens=True).strip()


# --- settings ---------------------------------------------------------------------------------------


def test_defaults_are_defakes_decoding_and_a_pinned_blip():
    s = CaptionSettings()
    assert (s.num_beams, s.max_length, s.min_length, s.prompt) == (3, 60, 5, "a picture of ")
    assert (s.model, s.revision) == (DEFAULT_MODEL, DEFAULT_REVISION) and len(DEFAULT_REVISION) == 40
    with pytest.raises(ValueError, match="unknown caption setting.*'beams'"):
        CaptionSettings.from_dict({"beams": 3})
    with pytest.raises(ValueError, match="min_length"):
        CaptionSettings(min_length=70)


def test_a_hub_id_without_revision_is_refused():
    with pytest.raises(CaptionerUnavailable, match="without a revision"):
        load_captioner(CaptionSettings(model="Salesforce/blip-image-captioning-base", revision=None, device="cpu"))


# --- demo captioner ---------------------------------------------------------------------------------


def test_demo_tokenizer_is_blip_shaped():
    tok = build_demo_tokenizer()
    ids = tok("A picture of Zebras, playing.").input_ids
    assert tok.unk_token_id not in ids, tok.convert_ids_to_tokens(ids)
    assert (ids[0], ids[-1]) == (tok.cls_token_id, tok.sep_token_id) and tok.pad_token_id == 0
    assert tok.convert_tokens_to_ids("[DEC]") == len(tok) - 2 and tok.bos_token == "[DEC]"


def test_demo_captioner_reloads_through_from_pretrained_offline(demo_dir, monkeypatch):
    """The saved folder loads by the real path, offline, and captions exactly like the model it was saved from."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = BlipForConditionalGeneration.from_pretrained(str(demo_dir)).eval()
    processor = BlipProcessor.from_pretrained(str(demo_dir))
    fresh = build_demo_blip(build_demo_tokenizer(), seed=0)  # the same seed builds the same weights
    image = Image.effect_mandelbrot((48, 40), (-2, -1.5, 1, 1.5), 60).convert("RGB")
    kwargs = {"num_beams": 3, "max_length": 14, "min_length": 6}
    got = _direct_caption(loaded, processor, image, "a picture of ", **kwargs)
    assert got == _direct_caption(fresh, processor, image, "a picture of ", **kwargs)
    assert len(got.split()) >= 1
    other = build_demo_blip(build_demo_tokenizer(), seed=1)
    assert _direct_caption(other, processor, image, "a picture of ", **kwargs) != got  # the check can fail


def test_caption_images_matches_direct_generate_calls(settings, manifest):
    captioner = load_captioner(settings)
    paths = sorted(read_manifest(manifest)["abspath"])[:3]
    images = [Image.open(p) for p in paths] + [Image.open(paths[0]).convert("L")]  # grey: converted to RGB
    got = caption_images(captioner, images, settings)
    want = [_direct_caption(captioner.model, captioner.processor, im, settings.prompt, num_beams=1,
                            max_length=settings.max_length, min_length=settings.min_length) for im in images]
    assert got == want
    assert len(set(got[:3])) > 1, "captions do not depend on the image"
    unconditional = caption_images(captioner, images[:1], CaptionSettings(**{**settings.to_dict(), "prompt": ""}))
    assert unconditional != got[:1]


# --- shards -----------------------------------------------------------------------------------------


def test_shards_partition_the_sorted_rows(manifest):
    rows = read_manifest(manifest)
    ordered = sorted(rows["path"])
    shards = [select_shard(rows, shard=k, num_shards=3)["path"].tolist() for k in range(3)]
    assert shards[1] == ordered[1::3]
    assert sorted(sum(shards, [])) == ordered
    shuffled = rows.sample(frac=1.0, random_state=1)
    assert select_shard(shuffled, shard=1, num_shards=3)["path"].tolist() == shards[1]
    only = select_shard(rows, shard=0, num_shards=1, generator="sdv14")
    assert set(only["generator"]) == {"sdv14"} and len(only) == 6


def test_resume_after_a_kill_equals_an_uninterrupted_run(settings, manifest, tmp_path, monkeypatch):
    whole = caption_manifest(manifest, tmp_path / "whole.csv", settings, shard=0, num_shards=1)
    assert whole is not None and len(whole) == 13 and (whole["status"] == "ok").all()

    out = tmp_path / "resumed.csv"
    assert caption_manifest(manifest, out, settings, shard=0, num_shards=1, max_chunks=2) is None
    journal = journal_path(out)
    assert not out.exists() and journal.exists()
    lines = journal.read_text().splitlines()
    assert len(lines) == 3  # header + 2 chunks
    # a kill in the middle of writing a third chunk: half a line without its newline
    with open(journal, "ab") as fh:
        fh.write(b'{"rows": [{"path": "images/demo/real/train/0/000.png", "capt')
    calls = []
    real = shard_mod._caption_chunk

    def counting(get, chunk, s):
        calls.append(len(chunk))
        return real(get, chunk, s)

    monkeypatch.setattr(shard_mod, "_caption_chunk", counting)
    resumed = caption_manifest(manifest, out, settings, shard=0, num_shards=1)
    assert calls == [3, 3, 1]  # 13 images, 6 done before: only the remaining 7, in the same chunks
    pd.testing.assert_frame_equal(resumed, whole)
    assert out.read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert not journal.exists()


def test_a_journal_of_other_settings_is_not_reused(settings, manifest, tmp_path):
    out = tmp_path / "shard.csv"
    caption_manifest(manifest, out, settings, shard=0, num_shards=2, max_chunks=1)
    header = json.loads(journal_path(out).read_text().splitlines()[0])
    assert header["settings"]["max_length"] == settings.max_length
    longer = CaptionSettings(**{**settings.to_dict(), "max_length": settings.max_length + 4})
    frame = caption_manifest(manifest, out, longer, shard=0, num_shards=2)
    reference = caption_manifest(manifest, tmp_path / "ref.csv", longer, shard=0, num_shards=2)
    pd.testing.assert_frame_equal(frame, reference)


def test_a_corrupt_image_is_logged_and_skipped(settings, tmp_path, caplog):
    manifest = write_manifest(tmp_path, [("demo", "real", "train", 0, 4)], size=40)
    victim = sorted(read_manifest(manifest)["abspath"])[1]
    Path(victim).write_bytes(Path(victim).read_bytes()[:60])  # a PNG cut short
    with caplog.at_level(logging.WARNING, logger="drct.captioning"):
        frame = caption_manifest(manifest, tmp_path / "caps.csv", settings, shard=0, num_shards=1)
    failed = frame[frame["status"] == "failed"]
    assert len(failed) == 1 and Path(victim).name in failed["path"].iloc[0]
    assert "unreadable image" in failed["error"].iloc[0]
    assert any(Path(victim).name in r.getMessage() for r in caplog.records)
    assert (frame["status"] == "ok").sum() == 3 and (frame.loc[frame["status"] == "ok", "caption"] != "").all()


def test_merge_combines_shards_sorted_and_drops_failures(settings, manifest, tmp_path):
    shards = [tmp_path / f"shard{k}.csv" for k in range(3)]
    for k, path in enumerate(shards):
        caption_manifest(manifest, path, settings, shard=k, num_shards=3)
    whole = read_shard_csv(shards[0])
    # a failed row, as a corrupt image leaves it
    broken = read_shard_csv(shards[2])
    broken.loc[0, ["caption", "status", "error"]] = ["", "failed", "unreadable image: x"]
    broken.to_csv(shards[2], index=False)
    merged = merge_captions(reversed(shards), tmp_path / "captions.csv")
    assert list(merged.columns) == ["path", "caption"]
    assert merged["path"].tolist() == sorted(merged["path"]) and len(merged) == 12
    assert broken.loc[0, "path"] not in set(merged["path"])
    assert pd.read_csv(tmp_path / "captions.csv", keep_default_na=False).equals(merged)
    # shards computed separately caption like one unsharded run (chunks differ, decoding is per image)
    single = caption_manifest(manifest, tmp_path / "single.csv", settings, shard=0, num_shards=1)
    assert dict(zip(single["path"], single["caption"])) | dict(zip(merged["path"], merged["caption"])) == dict(
        zip(single["path"], single["caption"]))
    with pytest.raises(ValueError, match="more than one shard"):
        merge_captions([shards[0], shards[0]], tmp_path / "dup.csv")
    assert len(whole) == 5
