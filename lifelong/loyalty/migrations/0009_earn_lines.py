from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0008_referrals"),
    ]

    operations = [
        migrations.AddField(
            model_name="transaction",
            name="lines",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
