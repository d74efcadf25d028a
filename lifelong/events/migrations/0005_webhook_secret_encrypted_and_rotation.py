"""Webhook senders' secrets are stored encrypted, and a rotated-out secret keeps an expiry."""

from django.db import migrations, models

import lifelong.lib.encryption
from lifelong.lib.encryption import secret_decrypt, secret_encrypt


def encrypt(apps, schema_editor):
    # A handful of rows: one per shop that sends webhooks.
    WebhookSource = apps.get_model("events", "WebhookSource")
    for pk, secret in WebhookSource.objects.values_list("pk", "secret"):
        WebhookSource.objects.filter(pk=pk).update(secret=secret_encrypt(secret))


def decrypt(apps, schema_editor):
    WebhookSource = apps.get_model("events", "WebhookSource")
    for pk, token in WebhookSource.objects.values_list("pk", "secret"):
        WebhookSource.objects.filter(pk=pk).update(secret=secret_decrypt(token))


class Migration(migrations.Migration):
    dependencies = [("events", "0004_idempotency_key_in_request_transaction")]

    operations = [
        # The ciphertext is longer than the 128 characters the plain secret had.
        migrations.AlterField(model_name="webhooksource", name="secret", field=models.TextField()),
        migrations.RunPython(encrypt, decrypt),
        migrations.AlterField(
            model_name="webhooksource",
            name="secret",
            field=lifelong.lib.encryption.EncryptedTextField(),
        ),
        migrations.AddField(
            model_name="webhooksource",
            name="previous_secret",
            field=lifelong.lib.encryption.EncryptedTextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="webhooksource",
            name="previous_valid_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
