"""The config reference in the README is the typed config's (generated, so it cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

from lp3d_models.config import config_reference, load_config

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_config_reference_is_generated(tmp_path):
    text = README.read_text()
    block = re.search(r"## Config reference.*?```yaml\n(.*?)```", text, re.S)
    assert block is not None, f"{README}: no config reference block"
    assert block.group(1) == config_reference(), (
        f"{README}: the config reference is out of date; paste the output of "
        "python -c \"from lp3d_models.config import config_reference; print(config_reference(), end='')\""
    )
    for section in ("geometry:", "distill:", "pipeline:", "split:", "crops:", "init_checkpoint:", "coordinate_weight:"):
        assert section in block.group(1)
    path = tmp_path / "lp3d.yaml"  # the reference is a loadable config (with a data folder)
    path.write_text(block.group(1).replace("  root: null", "  root: ."))
    assert load_config(path).model.backbone == "vit_s16"
