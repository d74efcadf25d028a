"""Channel settings (credentials included) are stored encrypted: existing rows are encrypted."""

from django.db import migrations, models

import lifelong.lib.encryption
from lifelong.lib.encryption import secret_decrypt, secret_encrypt


def encrypt(apps, schema_editor):
    # A handful of rows: one per channel.
    ChannelConfig = apps.get_model("messaging", "ChannelConfig")
    for pk, text in ChannelConfig.objects.values_list("pk", "config"):
        ChannelConfig.objects.filter(pk=pk).update(config=secret_encrypt(text))


def decrypt(apps, schema_editor):
    ChannelConfig = apps.get_model("messaging", "ChannelConfig")
    for pk, token in ChannelConfig.objects.values_list("pk", "config"):
        ChannelConfig.objects.filter(pk=pk).update(config=secret_decrypt(token))


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [
        # JSON becomes its text, then its ciphertext, then the field reads it back as JSON.
        migrations.AlterField(
            model_name="channelconfig",
            name="config",
            field=models.TextField(blank=True, default="{}", verbose_name="settings"),
        ),
        migrations.RunPython(encrypt, decrypt),
        migrations.AlterField(
            model_name="channelconfig",
            name="config",
            field=lifelong.lib.encryption.EncryptedJSONField(
                blank=True, default=dict, verbose_name="settings"
            ),
        ),
    ]
