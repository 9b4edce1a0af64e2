import django.db.models.deletion
from django.db import migrations, models


def forget_unanswered_keys(apps, schema_editor):
    """Keys still "in progress" belong to requests that never stored an answer:
    under the new rule a key without an answer is free, so they go."""
    IdempotencyKey = apps.get_model("orders", "IdempotencyKey")
    IdempotencyKey.objects.filter(response_status__isnull=True).delete()
    IdempotencyKey.objects.filter(response_body__isnull=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forget_unanswered_keys, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="idempotencykey",
            name="state",
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="response_status",
            field=models.PositiveSmallIntegerField(),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
            name="response_body",
            field=models.JSONField(),
        ),
    ]
