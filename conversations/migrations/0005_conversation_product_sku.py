from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0004_message_job_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="product_sku",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="conversation",
            name="product_viewed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
