import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("orders", "0002_idempotency_answer_with_effect"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="cart",
            field=models.OneToOneField(
                blank=True,
                help_text="The cart this order was checked out from: one order per cart.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="order",
                to="orders.cart",
            ),
        ),
    ]
