from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0004_conversations"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReviewAsk",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "enabled",
                    models.BooleanField(
                        default=False, verbose_name="ask promoters for a public review"
                    ),
                ),
                (
                    "yandex_maps_url",
                    models.URLField(blank=True, max_length=500, verbose_name="Yandex Maps page"),
                ),
                (
                    "two_gis_url",
                    models.URLField(blank=True, max_length=500, verbose_name="2GIS page"),
                ),
                (
                    "marketplace_name",
                    models.CharField(blank=True, max_length=60, verbose_name="marketplace name"),
                ),
                (
                    "marketplace_url",
                    models.URLField(blank=True, max_length=500, verbose_name="marketplace page"),
                ),
            ],
            options={"verbose_name": "review ask"},
        ),
    ]
