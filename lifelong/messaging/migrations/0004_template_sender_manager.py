from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0003_quiet_hours_default_times"),
    ]

    operations = [
        migrations.AddField(
            model_name="template",
            name="sender_manager",
            field=models.BooleanField(
                default=False, verbose_name="sender name: the customer's personal manager"
            ),
        ),
    ]
