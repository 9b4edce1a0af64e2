from decimal import Decimal

import factory

from accounts.models import User
from inventory.models import (
    Category,
    Product,
    SaleUnit,
    Store,
    StoreProduct,
    StoreStaff,
    Zone,
)
from inventory.services import shelf_prices_set, store_product_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@hema.test")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-9")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"ST{n:02d}")
    name = factory.Sequence(lambda n: f"Test store {n}")
    latitude = Decimal("31.230400")
    longitude = Decimal("121.473700")
    time_zone = "Asia/Shanghai"
    # Open around the clock: no test may depend on the hour it runs at (the
    # tests of opening hours set them).
    is_24h = True


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Zone

    store = factory.SubFactory(StoreFactory)
    code = factory.Sequence(lambda n: f"Z{n}")
    name = "Produce"


class StoreStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreStaff

    user = factory.SubFactory(UserFactory)
    store = factory.SubFactory(StoreFactory)
    role = "picker"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    slug = "fruit"
    name = "Fruit"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    category = factory.SubFactory(CategoryFactory)
    sale_unit = SaleUnit.PIECE
    origin = "Yunnan, China"


class StoreProductFactory(factory.django.DjangoModelFactory):
    """Created through ``store_product_create``, like every store product.

    It starts with no stock (receive goods with ``stock_receive`` so that the
    ledger explains the count) and at its list price; a ``shelf_price`` given
    here is then set the way pricing sets it, through ``shelf_prices_set``.
    """

    class Meta:
        model = StoreProduct

    store = factory.SubFactory(StoreFactory)
    product = factory.SubFactory(ProductFactory)
    list_price = Decimal("12.80")
    unit_cost = Decimal("8.00")
    online_buffer = Decimal("0.000")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        shelf_price = kwargs.pop("shelf_price", None)
        store_product = store_product_create(*args, **kwargs)
        if shelf_price is not None and shelf_price != store_product.shelf_price:
            shelf_prices_set(
                store=store_product.store, prices={store_product.pk: shelf_price}
            )
            store_product.refresh_from_db(fields=["shelf_price", "updated_at"])
        return store_product


def zone_where_it_is(hour: int, minute: int = 0) -> str:
    """A fixed-offset zone (``Etc/GMT±N``) whose local time now is between
    ``hour:minute`` and an hour later: tests of "today so far" that build their
    day at fixed local hours then pass at any hour CI runs them (in Shanghai a
    CI run at 16:30 UTC is half past midnight, with the day not begun)."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    offset = hour - now.hour + (0 if now.minute >= minute else 1)
    offset = (offset + 12) % 24 - 12  # within UTC-12 .. UTC+11
    if offset == 0:
        return "Etc/GMT"
    # Etc/GMT names count the other way: Etc/GMT-8 is eight hours east of UTC.
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
