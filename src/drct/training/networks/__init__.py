"""Baseline detector networks the DRCT authors train besides timm/open_clip backbones (GramNet, F3Net)."""
