"""The uv install reads pip's configuration: local wheel folders and constraints carry over, missing ones do not."""
from __future__ import annotations

import sys
from pathlib import Path

from service_insight.fast_install import pip_settings, uv_arguments


def test_pip_configuration_carries_over_to_uv_and_missing_locations_are_left_out(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("torch<=2.14.1\n")
    config = tmp_path / "pip.conf"
    config.write_text("[global]\n"
                      f"find-links = {wheels}\n    {tmp_path / 'no-such-folder'}\n"
                      f"constraint = {constraints}\n"
                      f"extra-index-url = file://{tmp_path / 'no-such-index'} https://mirror.example.org/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    for name in ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)

    settings = pip_settings(Path(sys.executable).parent / "pip")
    assert str(wheels) in settings["find-links"] and str(constraints) in settings["constraint"]
    args = uv_arguments(settings)
    pairs = set(zip(args[::2], args[1::2]))
    assert ("--find-links", str(wheels)) in pairs
    assert ("--constraint", str(constraints)) in pairs
    assert ("--extra-index-url", "https://mirror.example.org/simple") in pairs
    assert not any("no-such" in a for a in args)  # pip ignores them with a warning; uv would stop


def test_no_index_is_kept():
    assert uv_arguments({"no-index": ["true"], "find-links": ["/"]}) == ["--find-links", "/", "--no-index"]
