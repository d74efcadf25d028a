"""Two-factor secrets never sit in the database in clear."""

from __future__ import annotations

import pytest
from django.db import connection

from lifelong.accounts.models import Role
from lifelong.factories import UserFactory
from lifelong.lib.totp import totp_secret_new


@pytest.mark.django_db
def test_the_stored_two_factor_secret_is_ciphertext_and_reads_back():
    secret = totp_secret_new()
    user = UserFactory.create(role=Role.OWNER, totp_secret=secret)
    with connection.cursor() as cursor:
        cursor.execute("SELECT totp_secret FROM accounts_user WHERE id = %s", [user.pk])
        [stored] = cursor.fetchone()
    assert secret not in stored
    user.refresh_from_db()
    assert user.totp_secret == secret
    assert user.has_two_factor
