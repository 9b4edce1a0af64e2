"""``python manage.py seed_demo``: the demo stores, catalogue, stock and manager.

Idempotent: every row is found by its natural key (store code, zone code, supplier
name, category slug, SKU, store and product, e-mail) and changed only where it
differs from ``inventory/demo_catalogue.py``, so a second run creates and changes
nothing. Stock goes in through ``inventory.services.stock_receive`` (the ledger
and lots match the counts), and only for store products that have never had a
stock movement, so a rerun never adds stock and never undoes sales.

Quantities and costs that vary per product are derived from a CRC of the SKU,
not from a random generator, so every run and every machine gets the same data.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from inventory import demo_catalogue as demo
from inventory.demo_catalogue_zh import LOCAL_NAMES
from inventory.models import (
    Category,
    Product,
    SaleUnit,
    StaffRole,
    StockMovement,
    Store,
    StoreProduct,
    StoreStaff,
    Supplier,
    Zone,
)
from inventory.services import stock_receive

RECEIVE_REFERENCE = "SEED-DEMO"
CENT = Decimal("0.01")
GRAM = Decimal("0.001")
MIN_COST_RATIO = Decimal("0.55")
MAX_COST_RATIO = Decimal("0.80")
WEIGHED_BUFFER = Decimal("0.500")


def _spread(key: str, n: int) -> int:
    """A stable number in ``range(n)`` for ``key`` (the same on every run)."""
    return zlib.crc32(key.encode()) % n


def unit_cost_for(*, sku: str, list_price: Decimal, cost_ratio: Decimal) -> Decimal:
    """The category's typical cost share, moved by up to 4 points per product."""
    ratio = cost_ratio + Decimal(_spread(sku, 9) - 4) / 100
    ratio = min(max(ratio, MIN_COST_RATIO), MAX_COST_RATIO)
    return (list_price * ratio).quantize(CENT, rounding=ROUND_HALF_UP)


def initial_stock_for(
    *, store_code: str, sku: str, sale_unit: str, list_price: Decimal
) -> Decimal:
    """What the first delivery puts on the shelf: less of what costs more.

    Weighed goods get kilograms to the gram; goods by the piece whole units.
    """
    key = f"{store_code}:{sku}"
    if sale_unit == SaleUnit.KILOGRAM:
        if list_price < 20:
            base, span = 20, 16
        elif list_price < 60:
            base, span = 10, 9
        elif list_price < 200:
            base, span = 4, 5
        else:
            base, span = 2, 3
        grams = Decimal(_spread(key + ":g", 1000)) / 1000
        return (Decimal(base + _spread(key, span)) + grams).quantize(GRAM)
    if list_price < 10:
        base, span = 30, 31
    elif list_price < 30:
        base, span = 15, 16
    elif list_price < 100:
        base, span = 8, 9
    else:
        base, span = 3, 4
    return Decimal(base + _spread(key, span)).quantize(GRAM)


def online_buffer_for(*, sale_unit: str, initial_stock: Decimal) -> Decimal:
    """Units the app never sells, kept for shoppers in the aisle."""
    if sale_unit == SaleUnit.KILOGRAM:
        return WEIGHED_BUFFER
    return Decimal(2 if initial_stock >= 20 else 1).quantize(GRAM)


def shelf_location(zone_code: str, slot: int) -> str:
    """Twenty places per aisle: ``PRO-01-01`` is the first place in produce."""
    aisle, place = divmod(slot, 20)
    return f"{zone_code[:3]}-{aisle + 1:02d}-{place + 1:02d}"


def _time(value: str) -> dt.time:
    return dt.time.fromisoformat(value)


class Command(BaseCommand):
    help = (
        "Create or update the demo stores (SH01 Jing'an, SH02 Pudong), zones, "
        "suppliers, 300+ products with stock, and the demo manager. Idempotent. "
        "The manager's password comes from DEMO_PASSWORD (default "
        f"{demo.DEFAULT_MANAGER_PASSWORD!r})."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        self.tally: dict[str, Counter[str]] = {}
        password = os.environ.get("DEMO_PASSWORD") or demo.DEFAULT_MANAGER_PASSWORD
        with transaction.atomic():
            stores = self._stores()
            zones = self._zones(stores)
            suppliers = self._suppliers()
            categories = self._categories()
            products = self._products(categories, suppliers)
            self._store_products(stores, zones, products)
            group = self._manager_group()
            manager = self._manager(password=password, group=group, stores=stores)
            received, skipped = self._receive_stock(stores, manager, set(products))
        if options["verbosity"] > 0:
            self._report(
                stores=stores,
                received=received,
                skipped=skipped,
                password_from_env=bool(os.environ.get("DEMO_PASSWORD")),
                seconds=time.monotonic() - started,
            )

    # --- Small sets: one natural key each ---

    def _count(self, label: str, outcome: str, n: int = 1) -> None:
        self.tally.setdefault(label, Counter())[outcome] += n

    def _upsert(
        self,
        label: str,
        model: type[models.Model],
        lookup: dict[str, Any],
        values: dict[str, Any],
    ) -> Any:
        """Find by ``lookup``; create with ``values`` or save only what differs."""
        obj, created = model.objects.get_or_create(**lookup, defaults=values)
        if created:
            self._count(label, "created")
            return obj
        changed = [
            name for name, value in values.items() if getattr(obj, name) != value
        ]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            obj.save(update_fields=[*changed, "updated_at"])
            self._count(label, "updated")
        else:
            self._count(label, "unchanged")
        return obj

    def _stores(self) -> list[Store]:
        stores = []
        for row in demo.STORES:
            values = {
                **row,
                "latitude": Decimal(row["latitude"]),
                "longitude": Decimal(row["longitude"]),
                "delivery_radius_km": Decimal(row["delivery_radius_km"]),
                "opens_at": _time(row["opens_at"]),
                "closes_at": _time(row["closes_at"]),
                "trading_day_ends_at": _time(row["trading_day_ends_at"]),
                "is_active": True,
            }
            code = values.pop("code")
            stores.append(self._upsert("stores", Store, {"code": code}, values))
        return stores

    def _zones(self, stores: list[Store]) -> dict[tuple[int, str], Zone]:
        zones = {}
        for store in stores:
            for order, (code, name) in enumerate(demo.ZONES, start=1):
                zones[store.pk, code] = self._upsert(
                    "zones",
                    Zone,
                    {"store": store, "code": code},
                    {"name": name, "sort_order": order * 10},
                )
        return zones

    def _suppliers(self) -> dict[str, Supplier]:
        return {
            name: self._upsert(
                "suppliers", Supplier, {"name": name}, {"contact_email": email}
            )
            for name, email in demo.SUPPLIERS
        }

    def _categories(self) -> dict[str, Category]:
        return {
            row["slug"]: self._upsert(
                "categories", Category, {"slug": row["slug"]}, {"name": row["name"]}
            )
            for row in demo.CATEGORIES
        }

    # --- The catalogue: hundreds of rows, written in bulk ---

    def _sync_bulk(
        self,
        label: str,
        model: type[models.Model],
        existing: Iterable[models.Model],
        key_fields: tuple[str, ...],
        rows: list[dict[str, Any]],
        create_only: tuple[str, ...] = (),
    ) -> None:
        """Create the missing rows and update the ones that differ, in bulk.

        ``create_only`` fields are written when a row is created and left alone
        afterwards (the shelf price belongs to the pricing job once it exists).
        """
        by_key = {tuple(getattr(o, f) for f in key_fields): o for o in existing}
        to_create, to_update, fields_changed = [], [], set()
        now = timezone.now()
        for row in rows:
            obj = by_key.get(tuple(row[f] for f in key_fields))
            if obj is None:
                to_create.append(model(**row))
                continue
            changed = [
                name
                for name, value in row.items()
                if name not in create_only and getattr(obj, name) != value
            ]
            if changed:
                for name in changed:
                    setattr(obj, name, row[name])
                obj.updated_at = now
                to_update.append(obj)
                fields_changed.update(changed)
        model.objects.bulk_create(to_create, batch_size=500)
        if to_update:
            model.objects.bulk_update(
                to_update, [*sorted(fields_changed), "updated_at"], batch_size=500
            )
        self._count(label, "created", len(to_create))
        self._count(label, "updated", len(to_update))
        self._count(label, "unchanged", len(rows) - len(to_create) - len(to_update))

    def _product_rows(
        self, categories: dict[str, Category], suppliers: dict[str, Supplier]
    ) -> list[dict[str, Any]]:
        rows = []
        for category in demo.CATEGORIES:
            items = demo.PRODUCTS[category["slug"]]
            for index, (name, origin, unit, price, shelf_life, fresh) in enumerate(
                items
            ):
                sale_unit = SaleUnit.KILOGRAM if unit == "kg" else SaleUnit.PIECE
                if origin in demo.IMPORTED_ORIGINS:
                    supplier = suppliers[demo.IMPORT_SUPPLIER]
                else:
                    names = category["suppliers"]
                    supplier = suppliers[names[index % len(names)]]
                if fresh:
                    # Daily fresh comes in the day's trays, ordered by the
                    # piece or kilogram: a case of 12 could not follow a
                    # forecast of 5 without waste or an empty shelf.
                    case_size = Decimal(1)
                elif sale_unit == SaleUnit.KILOGRAM:
                    case_size = Decimal(5 if Decimal(price) >= 100 else 10)
                else:
                    case_size = Decimal(category["case_size"])
                rows.append(
                    {
                        "sku": f"{category['prefix']}-{index + 1:04d}",
                        "name": name,
                        "name_local": LOCAL_NAMES.get(name, ""),
                        "category_id": categories[category["slug"]].pk,
                        "sale_unit": sale_unit,
                        "origin": origin,
                        "shelf_life_days": shelf_life,
                        "is_daily_fresh": fresh,
                        "supplier_id": supplier.pk,
                        "case_size": case_size.quantize(GRAM),
                        "tax_class": category["tax_class"],
                    }
                )
        return rows

    def _products(
        self, categories: dict[str, Category], suppliers: dict[str, Supplier]
    ) -> dict[str, Product]:
        rows = self._product_rows(categories, suppliers)
        skus = [row["sku"] for row in rows]
        if len(set(skus)) != len(skus):
            raise CommandError("The demo catalogue has duplicate SKUs.")
        self._sync_bulk(
            "products",
            Product,
            Product.objects.filter(sku__in=skus),
            ("sku",),
            rows,
        )
        return {p.sku: p for p in Product.objects.filter(sku__in=skus)}

    def _store_products(
        self,
        stores: list[Store],
        zones: dict[tuple[int, str], Zone],
        products: dict[str, Product],
    ) -> None:
        categories = {c["slug"]: c for c in demo.CATEGORIES}
        for store in stores:
            rows = []
            shelf_slots: Counter[str] = Counter()
            for category_slug, items in demo.PRODUCTS.items():
                category = categories[category_slug]
                zone_code = category["zone"]
                cost_ratio = Decimal(category["cost_ratio"])
                for index, (_name, _origin, _unit, price, *_rest) in enumerate(items):
                    product = products[f"{category['prefix']}-{index + 1:04d}"]
                    list_price = Decimal(price).quantize(CENT)
                    stock = initial_stock_for(
                        store_code=store.code,
                        sku=product.sku,
                        sale_unit=product.sale_unit,
                        list_price=list_price,
                    )
                    slot = shelf_slots[zone_code]
                    shelf_slots[zone_code] += 1
                    rows.append(
                        {
                            "store_id": store.pk,
                            "product_id": product.pk,
                            "list_price": list_price,
                            "shelf_price": list_price,
                            "unit_cost": unit_cost_for(
                                sku=product.sku,
                                list_price=list_price,
                                cost_ratio=cost_ratio,
                            ),
                            "zone_id": zones[store.pk, zone_code].pk,
                            "shelf_location": shelf_location(zone_code, slot),
                            "online_buffer": online_buffer_for(
                                sale_unit=product.sale_unit, initial_stock=stock
                            ),
                            "is_active": True,
                        }
                    )
            self._sync_bulk(
                "store products",
                StoreProduct,
                StoreProduct.objects.filter(store=store),
                ("store_id", "product_id"),
                rows,
                create_only=("shelf_price",),
            )

    # --- Stock ---

    def _receive_stock(
        self, stores: list[Store], manager: Any, skus: set[str]
    ) -> tuple[int, int]:
        """Receive the first delivery where a store product has no movement yet.

        Through the service, so on hand, the lots and the ledger agree.
        """
        store_products = list(
            StoreProduct.objects.filter(store__in=stores, product__sku__in=skus)
            .select_related("store", "product")
            .order_by("pk")
        )
        moved = set(
            StockMovement.objects.filter(store_product__store__in=stores)
            .values_list("store_product_id", flat=True)
            .distinct()
        )
        received = 0
        for store_product in store_products:
            if store_product.pk in moved:
                continue
            stock_receive(
                store_product=store_product,
                quantity=initial_stock_for(
                    store_code=store_product.store.code,
                    sku=store_product.product.sku,
                    sale_unit=store_product.product.sale_unit,
                    list_price=store_product.list_price,
                ),
                actor=manager,
                reference=RECEIVE_REFERENCE,
            )
            received += 1
        return received, len(store_products) - received

    # --- The demo manager ---

    def _manager_group(self) -> Group:
        """The "Store managers" group holds exactly the listed permissions."""
        group, created = Group.objects.get_or_create(name=demo.MANAGER_GROUP)
        self._count("groups", "created" if created else "unchanged")
        wanted = {
            (app_label, f"{action}_{model}")
            for (app_label, model), actions in demo.MANAGER_PERMISSIONS.items()
            for action in actions
        }
        query = Q()
        for app_label, codename in wanted:
            query |= Q(content_type__app_label=app_label, codename=codename)
        permissions = list(
            Permission.objects.filter(query).select_related("content_type")
        )
        found = {(p.content_type.app_label, p.codename) for p in permissions}
        if found != wanted:
            missing = ", ".join(sorted(f"{a}.{c}" for a, c in wanted - found))
            raise CommandError(f"Permissions not found (run migrate first): {missing}")
        group.permissions.set(permissions)
        return group

    def _manager(self, *, password: str, group: Group, stores: list[Store]) -> Any:
        user_model = get_user_model()
        email, phone = demo.MANAGER["email"], demo.MANAGER["phone"]
        user = user_model.objects.filter(email__iexact=email).first()
        if (
            user_model.objects.filter(phone=phone)
            .exclude(pk=user.pk if user else None)
            .exists()
        ):
            raise CommandError(f"Another account already uses the phone {phone}.")
        if user is None:
            user = user_model.objects.create_user(
                email=email,
                phone=phone,
                password=password,
                full_name=demo.MANAGER["full_name"],
                is_staff=True,
            )
            self._count("manager", "created")
        else:
            wanted = {
                "phone": phone,
                "full_name": demo.MANAGER["full_name"],
                "is_staff": True,
                "is_superuser": False,
                "is_active": True,
            }
            changed = [k for k, v in wanted.items() if getattr(user, k) != v]
            for name in changed:
                setattr(user, name, wanted[name])
            if not user.check_password(password):
                user.set_password(password)
                changed.append("password")
            if changed:
                user.save(update_fields=changed)
            self._count("manager", "updated" if changed else "unchanged")
        user.groups.add(group)
        for store in stores:
            self._upsert(
                "staff roles",
                StoreStaff,
                {"user": user, "store": store, "role": StaffRole.MANAGER},
                {"is_active": True},
            )
        return user

    # --- Output ---

    def _summary(self, label: str) -> str:
        counts = self.tally.get(label, Counter())
        total = sum(counts.values())
        parts = [f"{counts[k]} {k}" for k in ("created", "updated") if counts[k]]
        return f"{total}" + (f" ({', '.join(parts)})" if parts else " (unchanged)")

    def _report(
        self,
        *,
        stores: list[Store],
        received: int,
        skipped: int,
        password_from_env: bool,
        seconds: float,
    ) -> None:
        out = self.stdout.write
        out(self.style.SUCCESS(f"Demo data ready in {seconds:.1f} s"))
        for store in stores:
            hours = (
                "open 24 hours"
                if store.is_24h
                else f"{store.opens_at:%H:%M}-{store.closes_at:%H:%M}"
            )
            out(
                f"  store          {store.code} {store.name}: {store.time_zone}, "
                f"{store.currency}, {store.delivery_radius_km} km / "
                f"{store.delivery_promise_minutes} min, {hours}"
            )
        for label in (
            "stores",
            "zones",
            "suppliers",
            "categories",
            "products",
            "store products",
            "staff roles",
        ):
            out(f"  {label:<14} {self._summary(label)}")
        out(
            f"  stock          received for {received} store products"
            + (f"; {skipped} already had stock, left as they are" if skipped else "")
        )
        password_note = (
            "the password in DEMO_PASSWORD"
            if password_from_env
            else f"password {demo.DEFAULT_MANAGER_PASSWORD}"
        )
        out(
            f"  manager        {demo.MANAGER['email']} or {demo.MANAGER['phone']}, "
            f"{password_note} ({', '.join(self.tally['manager'])}); staff, group "
            f"{demo.MANAGER_GROUP!r}, manager of " + ", ".join(s.code for s in stores)
        )
        out(f"  try            /api/v1/stores/{stores[0].code}/scan/FRU-0001")
