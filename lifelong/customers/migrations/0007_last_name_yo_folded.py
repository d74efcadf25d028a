import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0006_customer_personal_manager"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="customer",
            name="customer_last_name_upper",
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                django.db.models.functions.text.Upper(
                    django.db.models.functions.text.Replace(
                        django.db.models.functions.text.Replace(
                            models.F("last_name"),
                            models.Value("ё"),
                            models.Value("е"),
                            output_field=models.TextField(),
                        ),
                        models.Value("Ё"),
                        models.Value("Е"),
                        output_field=models.TextField(),
                    )
                ),
                name="customer_last_name_folded",
            ),
        ),
    ]
