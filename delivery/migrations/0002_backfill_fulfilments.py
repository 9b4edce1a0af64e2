"""Open a fulfilment for every order paid before fulfilments existed.

An order still ``paid`` (or ``picking``) that leaves through the store gets its
fulfilment, its lines and one pick task per zone for the lines still to pick;
an order further along gets the fulfilment in its state, with no tasks. Written
with the historical models (the services may change later); running it twice
adds nothing.
"""

import datetime as dt

from django.db import migrations

LEAVES_THROUGH_STORE = ("delivery", "pickup")
BACKFILLED_STATES = {
    "paid": "open",
    "picking": "picking",
    "packed": "packed",
    "ready": "ready",
    "out_for_delivery": "out_for_delivery",
}
LINE_STATES = {"open": "open", "picked": "picked", "short": "short"}


def backfill(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Fulfilment = apps.get_model("delivery", "Fulfilment")
    FulfilmentLine = apps.get_model("delivery", "FulfilmentLine")
    PickTask = apps.get_model("delivery", "PickTask")
    orders = (
        Order.objects.filter(
            fulfilment_mode__in=LEAVES_THROUGH_STORE,
            state__in=list(BACKFILLED_STATES),
            fulfilment__isnull=True,
        )
        .select_related("store")
        .order_by("pk")
    )
    for order in orders.iterator():
        paid_at = order.paid_at or order.created_at
        deadline = order.promised_by or paid_at + dt.timedelta(
            minutes=order.store.delivery_promise_minutes
        )
        skips_picking = order.channel == "in_store"
        fulfilment = Fulfilment.objects.create(
            order=order,
            reference=order.number,
            store_id=order.store_id,
            mode=order.fulfilment_mode,
            skips_picking=skips_picking,
            state=BACKFILLED_STATES[order.state],
            deadline=deadline,
            paid_at=paid_at,
        )
        tasks = {}
        for line in order.lines.select_related("store_product").order_by("pk"):
            state = LINE_STATES.get(line.state)
            if state is None:
                continue  # substituted or cancelled: nothing to pick
            if skips_picking:
                state = "picked"
            task = None
            if state == "open" and order.state in ("paid", "picking"):
                zone_id = line.store_product.zone_id
                if zone_id not in tasks:
                    tasks[zone_id] = PickTask.objects.create(
                        fulfilment=fulfilment,
                        store_id=order.store_id,
                        zone_id=zone_id,
                        deadline=deadline,
                    )
                task = tasks[zone_id]
            FulfilmentLine.objects.create(
                fulfilment=fulfilment,
                order_line_id=line.pk,
                task=task,
                store_product_id=line.store_product_id,
                reservation_id=line.reservation_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                weight_tolerance=line.weight_tolerance,
                state=state,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0001_initial"),
        ("orders", "0004_refund_retries_and_domain_keys"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
