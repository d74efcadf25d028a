"""Static files build with the production storage, and every file a template names is built.

The production storage (WhiteNoise's compressed manifest) rewrites the references inside CSS
and JavaScript to hashed names and refuses to build when one points at a missing file, so a
vendored script naming a source map we do not ship stopped `lifelong run` at start.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STATIC_TAG = re.compile(r"""{%\s*static\s+["']([^"']+)["']\s*%}""")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict[str, str]:
    var_dir = tmp_path_factory.mktemp("var")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFELONG_")} | {
        "LIFELONG_PRODUCTION": "1",
        "LIFELONG_SECRET_KEY": "s" * 50,
        "LIFELONG_ENCRYPTION_KEY": base64.urlsafe_b64encode(bytes(32)).decode(),
        "LIFELONG_VAR_DIR": str(var_dir),
    }
    run = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    paths: dict[str, str] = json.loads((var_dir / "static" / "staticfiles.json").read_text())[
        "paths"
    ]
    return paths


def test_collectstatic_builds_with_the_production_storage(manifest):
    assert manifest["vendor/chart.umd.min.js"].startswith("vendor/chart.umd.min.")


def test_every_file_a_template_names_is_in_the_manifest(manifest):
    named = {
        name
        for template in (REPO / "lifelong").rglob("templates/**/*.html")
        for name in STATIC_TAG.findall(template.read_text(encoding="utf-8"))
    }
    assert named, "the pattern found no {% static %} tag"
    assert sorted(named - set(manifest)) == []
