"""``python manage.py seed_demo_layout``: the demo stores' rail, bags, rail
controllers and floor staff (run after ``seed_demo``; inventory never imports
delivery, so this is delivery's command).

Idempotent: stations, segments and bags are found by their codes; a store that
already has a rail controller keeps its secret; staff are found by e-mail.
Prints each new controller's device id and secret once.
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from delivery.layout import bags_issue, rail_layout_linear
from delivery.models import RailController
from delivery.rail import controller_create
from delivery.riders import picker_shift_start, rider_shift_start
from inventory import demo_catalogue as demo
from inventory.models import StaffRole, Store, StoreStaff

BAGS_PER_STORE = 60
DEMO_STAFF = [
    ("picker", StaffRole.PICKER),
    ("packer", StaffRole.PACKER),
]
# Demo riders per store (rider.sh01@hema.demo, rider2.sh01@hema.demo, ...), all
# on shift, and the demo picker on duty: the delivery promise needs both.
DEMO_RIDERS = 3


class Command(BaseCommand):
    help = (
        "Load the demo stores' ceiling rail (a hang station per zone, packing "
        "stations, travel times), their bags, rail controllers, a demo picker "
        "and packer per store and three demo riders, on shift (password from "
        "DEMO_PASSWORD, else the demo one)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_PASSWORD") or demo.DEFAULT_MANAGER_PASSWORD
        codes = [store["code"] for store in demo.STORES]
        stores = list(Store.objects.filter(code__in=codes).order_by("code"))
        if not stores:
            self.stdout.write("No demo store: run seed_demo first.")
            return
        for store in stores:
            with transaction.atomic():
                zones = list(store.zones.order_by("sort_order", "code"))
                rail_layout_linear(
                    store=store, zones=zones, packing_codes=("PACK1", "PACK2")
                )
                bags_issue(store=store, count=BAGS_PER_STORE)
                self._staff(store, password)
                if not RailController.objects.filter(store=store).exists():
                    controller, secret = controller_create(store=store)
                    self.stdout.write(
                        f"{store.code} rail controller: device {controller.device_id} "
                        f"secret {secret}"
                    )
            self.stdout.write(
                f"{store.code}: {len(zones)} hang stations, 2 packing stations, "
                f"{BAGS_PER_STORE} bags"
            )

    def _staff(self, store: Store, password: str) -> None:
        user_model = get_user_model()
        for name, role in DEMO_STAFF:
            email = f"{name}.{store.code.lower()}@hema.demo"
            user = user_model.objects.filter(email=email).first()
            if user is None:
                user = user_model.objects.create_user(email=email, password=password)
                self.stdout.write(f"{store.code} {role}: {email}")
            StoreStaff.objects.get_or_create(user=user, store=store, role=role)
            if role == StaffRole.PICKER:
                picker_shift_start(store=store, picker=user)
        for n in range(1, DEMO_RIDERS + 1):
            name = "rider" if n == 1 else f"rider{n}"
            email = f"{name}.{store.code.lower()}@hema.demo"
            user = user_model.objects.filter(email=email).first()
            if user is None:
                user = user_model.objects.create_user(email=email, password=password)
                self.stdout.write(f"{store.code} rider: {email}")
            StoreStaff.objects.get_or_create(
                user=user, store=store, role=StaffRole.RIDER
            )
            rider_shift_start(store=store, rider=user)
