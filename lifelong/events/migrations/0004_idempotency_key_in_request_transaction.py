from django.db import migrations


def forget_stuck_keys(apps, schema_editor):
    # Claims committed before their request finished: left by a crash, they would answer
    # 409 until the daily prune. Keys are now written with the request's own transaction.
    apps.get_model("events", "IdempotentRequest").objects.filter(completed=False).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0003_leaner_indexes"),
    ]

    operations = [
        migrations.RunPython(forget_stuck_keys, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="idempotentrequest",
            name="completed",
        ),
    ]
