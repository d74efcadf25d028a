from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0004_template_sender_manager"),
    ]

    operations = [
        migrations.AddField(
            model_name="template",
            name="design",
            field=models.JSONField(blank=True, default=dict, verbose_name="email design"),
        ),
    ]
