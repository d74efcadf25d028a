import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("commerce", "0002_leaner_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="RefundLine",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sku", models.CharField(max_length=64, verbose_name="SKU")),
                ("quantity", models.PositiveIntegerField(verbose_name="quantity")),
                (
                    "refund",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lines",
                        to="commerce.refund",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("refund", "sku"), name="refund_line_sku_once")
                ],
            },
        ),
    ]
