"""Every LIFELONG_* variable the code reads is in the one settings table (docs/operations.md),
and the table names none that nothing reads; the state directory never lands in site-packages.

Reads are found twice: in the source (the typed helpers and os.environ look-ups, test code
included, since tests have variables too), and by importing the settings with os.environ
recording every key asked for, in the default and the production configuration.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from lifelong.settings import var_dir_default

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "docs" / "operations.md"
HELPER_READ = re.compile(r"""\benv_(?:str|int|bool|list|networks)\(\s*["']([A-Z0-9_]+)["']""")
ENVIRON_READ = re.compile(
    r"""(?:environ(?:\.get)?\(|environ\[|getenv\()\s*["']LIFELONG_([A-Z0-9_]+)["']"""
)
RECORD = """
import json, os, sys
asked = set()
class Recording(dict):
    def _seen(self, key):
        if isinstance(key, str) and key.startswith("LIFELONG_"):
            asked.add(key)
    def get(self, key, default=None):
        self._seen(key)
        return super().get(key, default)
    def __getitem__(self, key):
        self._seen(key)
        return super().__getitem__(key)
    def __contains__(self, key):
        self._seen(key)
        return super().__contains__(key)
os.environ = Recording(os.environ)
import lifelong.settings
print(json.dumps(sorted(asked)))
"""


def documented() -> set[str]:
    rows = [line for line in TABLE.read_text().splitlines() if line.startswith("| `LIFELONG_")]
    return {
        name for row in rows for name in re.findall(r"`(LIFELONG_[A-Z0-9_]+)`", row.split("|")[1])
    }


def read_in_source() -> set[str]:
    names = set()
    for path in (REPO / "lifelong").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names |= {f"LIFELONG_{n}" for n in HELPER_READ.findall(text) + ENVIRON_READ.findall(text)}
    return names


def read_at_import(tmp_path: Path, **env: str) -> set[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIFELONG_")}
    run = subprocess.run(
        [sys.executable, "-c", RECORD],
        env=clean | {"LIFELONG_VAR_DIR": str(tmp_path)} | env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(run.stdout))


def test_every_variable_read_is_in_the_settings_table(tmp_path):
    production = {
        "LIFELONG_PRODUCTION": "1",
        "LIFELONG_SECRET_KEY": "s" * 50,
        "LIFELONG_ENCRYPTION_KEY": base64.urlsafe_b64encode(bytes(32)).decode(),
        "LIFELONG_DATABASE_URL": "postgresql://lifelong@db.invalid/lifelong",
    }
    read = read_in_source() | read_at_import(tmp_path) | read_at_import(tmp_path, **production)
    assert "LIFELONG_SSL_REDIRECT" in read and "LIFELONG_DB_CONN_MAX_AGE" in read
    table = documented()
    assert sorted(read - table) == [], f"add these to the settings table in {TABLE.name}"
    assert sorted(table - read) == [], "the settings table names variables nothing reads"


def test_a_checkout_keeps_its_state_beside_the_code(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    assert var_dir_default(base_dir=tmp_path, is_root=True, data_home=None) == tmp_path / "var"


def test_an_installed_package_keeps_its_state_out_of_site_packages(tmp_path):
    site_packages = tmp_path / "site-packages"
    site_packages.mkdir()
    as_root = var_dir_default(base_dir=site_packages, is_root=True, data_home=None)
    assert as_root == Path("/var/lib/lifelong")
    as_user = var_dir_default(base_dir=site_packages, is_root=False, data_home=str(tmp_path))
    assert as_user == tmp_path / "lifelong"
    home = var_dir_default(base_dir=site_packages, is_root=False, data_home=None)
    assert home == Path.home() / ".local" / "share" / "lifelong"
