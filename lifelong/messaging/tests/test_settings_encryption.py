"""Channel settings are stored encrypted; the key can be rotated; production needs a key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from lifelong.lib.encryption import secrets_reencrypt
from lifelong.messaging.models import ChannelConfig

SETTINGS = {"api_id": "SMSRU-SECRET-0042", "sender": "Shop"}


def _stored() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT config FROM messaging_channelconfig")
        [(raw,)] = cursor.fetchall()
    return str(raw)


def test_settings_are_encrypted_in_the_database(db):
    ChannelConfig.objects.create(channel="sms", transport="smsru", config=SETTINGS)

    raw = _stored()
    assert "SMSRU-SECRET-0042" not in raw and "Shop" not in raw
    assert ChannelConfig.objects.get().config == SETTINGS
    assert ChannelConfig.objects.values_list("config", flat=True).get() == SETTINGS


def test_the_key_rotates_with_the_old_one_kept_for_reading(db, settings):
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [first]
    ChannelConfig.objects.create(channel="sms", transport="smsru", config=SETTINGS)
    under_first = _stored()

    settings.ENCRYPTION_KEYS = [second, first]
    assert ChannelConfig.objects.get().config == SETTINGS
    assert secrets_reencrypt() == 1
    assert _stored() != under_first

    settings.ENCRYPTION_KEYS = [second]
    assert ChannelConfig.objects.get().config == SETTINGS
    settings.ENCRYPTION_KEYS = [first]
    with pytest.raises(ImproperlyConfigured, match="LIFELONG_ENCRYPTION_OLD_KEYS"):
        ChannelConfig.objects.get()


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_settings_and_reverses():
    before, after = (
        [("messaging", "0001_initial")],
        [("messaging", "0002_encrypt_channel_settings")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_model = executor.loader.project_state(before).apps.get_model("messaging", "ChannelConfig")
    old_model.objects.create(channel="sms", transport="smsru", config=SETTINGS)
    assert "SMSRU-SECRET-0042" in _stored()

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    assert "SMSRU-SECRET-0042" not in _stored()
    assert ChannelConfig.objects.get().config == SETTINGS

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    assert "SMSRU-SECRET-0042" in _stored()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_production_refuses_to_start_without_an_encryption_key(tmp_path):
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("LIFELONG_ENCRYPTION")
    } | {
        "LIFELONG_PRODUCTION": "1",
        "LIFELONG_SECRET_KEY": "s" * 50,
        "LIFELONG_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "lifelong.settings",
    }
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    assert "ImproperlyConfigured: LIFELONG_ENCRYPTION_KEY must be set" in run.stderr

    env["LIFELONG_ENCRYPTION_KEY"] = "too-short"
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "LIFELONG_ENCRYPTION_KEY must be 32 bytes in URL-safe base64" in run.stderr
