"""Two-factor secrets are stored encrypted: existing ones are encrypted in place."""

from django.db import migrations, models

import lifelong.lib.encryption
from lifelong.lib.encryption import secret_decrypt, secret_encrypt


def encrypt(apps, schema_editor):
    # Staff accounts: a handful of rows.
    User = apps.get_model("accounts", "User")
    for pk, secret in User.objects.exclude(totp_secret="").values_list("pk", "totp_secret"):
        User.objects.filter(pk=pk).update(totp_secret=secret_encrypt(secret))


def decrypt(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    for pk, token in User.objects.exclude(totp_secret="").values_list("pk", "totp_secret"):
        User.objects.filter(pk=pk).update(totp_secret=secret_decrypt(token))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_two_factor_and_audit_api_key")]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="totp_secret",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(encrypt, decrypt),
        migrations.AlterField(
            model_name="user",
            name="totp_secret",
            field=lifelong.lib.encryption.EncryptedTextField(blank=True, default=""),
        ),
    ]
