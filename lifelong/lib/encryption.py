"""Secrets at rest: channel credentials and webhook secrets are stored encrypted (Fernet).

The first of `settings.ENCRYPTION_KEYS` (LIFELONG_ENCRYPTION_KEY) encrypts; the others
(LIFELONG_ENCRYPTION_OLD_KEYS) only decrypt, so a key can be replaced without losing what
it protects: `lifelong reencrypt` then encrypts everything again with the new one.
A database copy alone therefore holds no usable credential.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction


def _keys() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.ENCRYPTION_KEYS])


def secret_encrypt(text: str) -> str:
    return _keys().encrypt(text.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with LIFELONG_ENCRYPTION_KEY: if the key was "
            "changed, list the previous one in LIFELONG_ENCRYPTION_OLD_KEYS"
        ) from None


class EncryptedTextField(models.TextField):
    """Text stored encrypted and read back in clear; an empty value stays empty.

    The stored form changes on every save (random IV): the column cannot be searched.
    """

    def dump(self, value: Any) -> str:
        return str(value)

    def load(self, text: str) -> Any:
        return text

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        text = self.dump(value)
        return secret_encrypt(text) if text else ""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self.load(secret_decrypt(value) if value else "")

    def to_python(self, value: Any) -> Any:
        return value


class EncryptedJSONField(EncryptedTextField):
    """A JSON object stored encrypted as a whole."""

    # What django-stubs' plugin reads as the types set and read through the field.
    _pyi_private_set_type: dict[str, Any]  # type: ignore[assignment]
    _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]

    def dump(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def load(self, text: str) -> Any:
        return json.loads(text) if text else {}


def secrets_reencrypt() -> int:
    """Encrypt every stored secret again with the current key; returns the rows rewritten.

    Run after LIFELONG_ENCRYPTION_KEY changed (the previous key in _OLD_KEYS), then drop the
    old key. The tables that hold secrets are small (channels, webhook senders): row by row.
    """
    rewritten = 0
    for model in apps.get_models():
        fields = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if not fields:
            continue
        with transaction.atomic():
            for row in model._default_manager.select_for_update().only("pk", *fields):
                # update() stores through the field, which encrypts with the current key.
                values = {name: getattr(row, name) for name in fields}
                model._default_manager.filter(pk=row.pk).update(**values)
                rewritten += 1
    return rewritten
