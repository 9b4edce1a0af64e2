"""The managers' screens: stores, catalogue, store products, stock and the ledger.

Who sees what:

* A superuser sees and changes everything.
* Any other staff user works only in the stores where they hold an active
  ``StoreStaff`` row with the manager role: lists are filtered to those stores,
  another store's row answers 403, and drop-downs offer only their stores and
  zones. Django's per-model permissions do not widen this scope. Managers may
  view the chain-wide catalogue (products, categories, suppliers); changing it
  takes Django's model permissions (chain operators).
* Stock counts are read-only everywhere: they change only through
  ``inventory.services`` (receive goods, count correction, write-off), which the
  store product's stock screens call. A store product's own settings are saved
  through ``store_product_create`` / ``store_product_update`` (only the changed
  fields), never by saving the whole row. Lots, reservations, the stock ledger
  and the reconcile runs are read-only for everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from hema.errors import ApplicationError, InvalidInput
from inventory import display, labels, selectors, services
from inventory.forms import (
    StockCorrectForm,
    StockForm,
    StockReceiveForm,
    StockWriteOffForm,
    StoreProductAdminForm,
    StoreStaffAdminForm,
)
from inventory.models import (
    Category,
    Product,
    ReconcileDrift,
    ReconcileRun,
    Reservation,
    StockLot,
    StockMovement,
    Store,
    StoreProduct,
    StoreStaff,
    Supplier,
    Zone,
)

MAX_LABELS_PER_PRINT = 1000


# --- Scope --------------------------------------------------------------------


def managed_store_ids(request: HttpRequest) -> set[int] | None:
    """None for a superuser (every store), else the stores the user manages.

    Computed once per request: the admin asks for permissions many times a page.
    """
    user = request.user
    if user.is_active and user.is_superuser:
        return None
    cached = getattr(request, "_hema_managed_store_ids", None)
    if cached is None:
        cached = selectors.store_ids_managed_by(user=user)
        request._hema_managed_store_ids = cached
    return cached


def _is_manager(request: HttpRequest) -> bool:
    ids = managed_store_ids(request)
    return ids is None or bool(ids)


def _visible_stores(request: HttpRequest) -> QuerySet[Store]:
    ids = managed_store_ids(request)
    stores = Store.objects.all()
    return stores if ids is None else stores.filter(pk__in=ids)


def _visible_zones(request: HttpRequest) -> QuerySet[Zone]:
    ids = managed_store_ids(request)
    zones = Zone.objects.select_related("store")
    return zones if ids is None else zones.filter(store_id__in=ids)


class StoreFilter(admin.SimpleListFilter):
    """Filter by store, offering only the stores the user may see."""

    title = "store"
    parameter_name = "store"
    store_lookup = "store"

    def lookups(self, request, model_admin):
        return [(str(s.pk), str(s)) for s in _visible_stores(request)]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(**{f"{self.store_lookup}_id": self.value()})
        return queryset


class LedgerStoreFilter(StoreFilter):
    store_lookup = "store_product__store"


class ZoneFilter(admin.SimpleListFilter):
    """Filter by zone: the zones of the store chosen in the store filter, else
    of every store the user may see (a zone belongs to one store, so another
    store's zones would only ever filter to nothing)."""

    title = "zone"
    parameter_name = "zone"
    store_parameter = StoreFilter.parameter_name

    def lookups(self, request, model_admin):
        zones = _visible_zones(request)
        chosen = request.GET.get(self.store_parameter, "")
        if chosen.isdigit():
            zones = zones.filter(store_id=int(chosen))
        return [(str(z.pk), str(z)) for z in zones]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(zone_id=self.value())
        return queryset


class OtherStoreForbiddenMixin:
    """``get_object`` answers 403, not "does not exist", for a row that exists
    in a store the user does not manage (the admin's 403 page says why and
    offers a way back). The admin's ``get_queryset`` is what scopes the rows."""

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Model | None:
        """The row, or 403 when it exists but belongs to a store not managed."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None and managed_store_ids(request) is not None:
            field = (
                self.model._meta.pk
                if from_field is None
                else self.model._meta.get_field(from_field)
            )
            try:
                key = field.to_python(object_id)
            except ValidationError:
                return None
            if self.model._default_manager.filter(**{field.attname: key}).exists():
                raise PermissionDenied
        return obj


class StoreScopedAdmin(OtherStoreForbiddenMixin, admin.ModelAdmin):
    """A model admin whose rows belong to one store each (see the module docstring).

    ``store_lookup`` is the path from the model to its store. The ``manager_can_*``
    flags say what a manager may do with rows of their own stores.
    """

    store_lookup = "store"
    manager_can_add = False
    manager_can_change = True
    manager_can_delete = False
    read_only = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        ids = managed_store_ids(request)
        if ids is None:
            return queryset
        return queryset.filter(**{f"{self.store_lookup}__in": ids})

    def store_id_of(self, obj: Model) -> int:
        *path, last = self.store_lookup.split("__")
        for step in path:
            obj = getattr(obj, step)
        return obj.pk if last == "pk" else getattr(obj, f"{last}_id")

    def _in_scope(self, request: HttpRequest, obj: Model | None) -> bool:
        ids = managed_store_ids(request)
        if ids is None:
            return True
        if not ids:
            return False
        return obj is None or self.store_id_of(obj) in ids

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_manager(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._in_scope(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if self.read_only:
            return False
        if managed_store_ids(request) is None:
            return True
        return self.manager_can_add and _is_manager(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if self.read_only:
            return False
        if managed_store_ids(request) is None:
            return True
        return self.manager_can_change and self._in_scope(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if self.read_only:
            return False
        if managed_store_ids(request) is None:
            return True
        return self.manager_can_delete and self._in_scope(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "store":
            kwargs["queryset"] = _visible_stores(request)
        elif db_field.name == "zone":
            kwargs["queryset"] = _visible_zones(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _parent_in_scope(request: HttpRequest, obj: Model | None) -> bool:
    """May the user see the rows an inline shows under ``obj`` (a store's row)?

    Django asks with the parent row to decide whether to show the inline, and
    without it when building the inline's queryset; the parent admin has already
    scoped the row itself.
    """
    ids = managed_store_ids(request)
    if ids is None:
        return True
    if obj is None:
        return bool(ids)
    return obj.store_id in ids


class CatalogueAdmin(admin.ModelAdmin):
    """Chain-wide rows: Django's model permissions, and managers may look."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or _is_manager(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) or _is_manager(request)


# --- How numbers read ------------------------------------------------------------
# Every quantity and price on these screens goes through ``inventory.display``:
# pieces as whole numbers (``3``, never ``3.000``), kilograms with their unit,
# prices with the store's currency and what they buy (``CNY 12.80 / kg``).


def _quantity(sp: StoreProduct, value) -> str:
    return display.quantity(value, sp.product.sale_unit)


def _signed_quantity(sp: StoreProduct, value) -> str:
    """A ledger delta: ``+5``, ``-1.250 kg``, ``0``."""
    if value is None:
        return "-"
    sign = "+" if value > 0 else "-" if value < 0 else ""
    return f"{sign}{display.quantity(abs(value), sp.product.sale_unit)}"


def _quantity_column(field: str, description: str) -> Callable[[Any, Model], str]:
    """An admin column showing ``obj.<field>``, a quantity of ``obj.store_product``."""

    @admin.display(description=description)
    def column(model_admin: Any, obj: Model) -> str:
        return _quantity(obj.store_product, getattr(obj, field))

    return column


def _price(sp: StoreProduct, amount) -> str:
    """A price per sale unit in the store's currency."""
    return display.money(amount, sp.store.currency, sp.product.sale_unit)


# The pricing screens a store product links to. Inventory does not import
# pricing (it stands below it): the links are looked up by URL name and left
# out when pricing's admin is not installed.
PRICE_LINKS = (
    ("admin:pricing_price_preview", "Price preview", "?store_product={pk}", False),
    ("admin:pricing_product_price_history", "Price chart", "", True),
)


def price_links_of(sp: StoreProduct) -> list[tuple[str, str]]:
    """(url, label) of the price preview and the 7-day price chart of ``sp``."""
    links = []
    for name, label, query, takes_pk in PRICE_LINKS:
        try:
            url = reverse(name, args=[sp.pk] if takes_pk else None)
        except NoReverseMatch:
            continue
        links.append((url + query.format(pk=sp.pk), label))
    return links


class LedgerQuantities:
    """Quantity and price columns of the read-only ledger screens."""

    @admin.display(description="quantity received", ordering="quantity_received")
    def received(self, obj: StockLot) -> str:
        return _quantity(obj.store_product, obj.quantity_received)

    @admin.display(description="quantity left", ordering="quantity_left")
    def left(self, obj: StockLot) -> str:
        return _quantity(obj.store_product, obj.quantity_left)

    @admin.display(description="quantity", ordering="quantity")
    def reserved_quantity(self, obj: Reservation) -> str:
        return _quantity(obj.store_product, obj.quantity)

    @admin.display(description="quantity picked", ordering="quantity_picked")
    def picked(self, obj: Reservation) -> str:
        return _quantity(obj.store_product, obj.quantity_picked)

    @admin.display(description="on hand", ordering="on_hand_delta")
    def on_hand_change(self, obj: StockMovement) -> str:
        return _signed_quantity(obj.store_product, obj.on_hand_delta)

    @admin.display(description="reserved", ordering="reserved_delta")
    def reserved_change(self, obj: StockMovement) -> str:
        return _signed_quantity(obj.store_product, obj.reserved_delta)

    @admin.display(description="unit price", ordering="unit_price")
    def unit_price_shown(self, obj: StockMovement) -> str:
        return _price(obj.store_product, obj.unit_price)


# --- Stores and staff ---------------------------------------------------------


class ZoneInline(admin.TabularInline):
    model = Zone
    extra = 0
    fields = ("code", "name", "sort_order")

    def _allowed(self, request: HttpRequest, obj: Store | None) -> bool:
        ids = managed_store_ids(request)
        return ids is None or (obj is not None and obj.pk in ids)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return self._allowed(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allowed(request, obj)


@admin.register(Store)
class StoreAdmin(StoreScopedAdmin):
    store_lookup = "pk"
    list_display = (
        "code",
        "name",
        "currency",
        "time_zone",
        "delivery_radius_km",
        "is_24h",
        "is_active",
    )
    list_filter = ("is_active", "is_24h", "currency")
    search_fields = ("code", "name", "address")
    inlines = (ZoneInline,)
    fieldsets = (
        (None, {"fields": ("code", "name", "address", "is_active")}),
        (
            "Location and delivery",
            {
                "fields": (
                    "latitude",
                    "longitude",
                    "delivery_radius_km",
                    "delivery_promise_minutes",
                )
            },
        ),
        (
            "Trading",
            {
                "fields": (
                    "time_zone",
                    "currency",
                    "opens_at",
                    "closes_at",
                    "is_24h",
                    "trading_day_ends_at",
                    "price_hold_minutes",
                )
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        # Managers run their store; its code (printed on every shelf label), its
        # currency and whether it trades at all are the chain's call.
        if obj is not None and managed_store_ids(request) is not None:
            return ("code", "is_active", "currency")
        return ()


@admin.register(Zone)
class ZoneAdmin(StoreScopedAdmin):
    manager_can_add = True
    manager_can_delete = True
    list_display = ("store_code", "code", "name", "sort_order")
    list_select_related = ("store",)
    list_filter = (StoreFilter,)
    search_fields = ("code", "name", "store__code")
    ordering = ("store__code", "sort_order", "code")

    @admin.display(description="store", ordering="store__code")
    def store_code(self, obj: Zone) -> str:
        return obj.store.code


@admin.register(StoreStaff)
class StoreStaffAdmin(StoreScopedAdmin):
    form = StoreStaffAdminForm
    manager_can_add = True
    manager_can_delete = True
    list_display = ("user", "full_name", "store", "role", "is_active")
    list_select_related = ("user", "store")
    list_filter = ("role", "is_active", StoreFilter)
    search_fields = ("user__email", "user__phone", "user__full_name", "store__code")

    @admin.display(description="name", ordering="user__full_name")
    def full_name(self, obj: StoreStaff) -> str:
        return obj.user.full_name


# --- Catalogue ----------------------------------------------------------------


@admin.register(Supplier)
class SupplierAdmin(CatalogueAdmin):
    list_display = ("name", "contact_email")
    search_fields = ("name", "contact_email")


@admin.register(Category)
class CategoryAdmin(CatalogueAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Product)
class ProductAdmin(CatalogueAdmin):
    list_display = (
        "sku",
        "name",
        "name_local",
        "category",
        "sale_unit",
        "is_daily_fresh",
        "shelf_life_days",
        "origin",
        "supplier",
    )
    list_select_related = ("category", "supplier")
    list_filter = ("category", "sale_unit", "is_daily_fresh", "tax_class")
    search_fields = ("sku", "name", "name_local")
    autocomplete_fields = ("supplier",)


# --- Store products and their stock screens -----------------------------------


@dataclass(frozen=True)
class StockAction:
    """One stock screen: its form, the service call and the success message."""

    slug: str
    title: str
    form_class: type[StockForm]
    run: Callable[[StoreProduct, StockForm, Any], StockMovement | None]


def _receive(sp: StoreProduct, form: StockForm, actor: Any):
    data = form.cleaned_data
    return services.stock_receive(
        store_product=sp,
        quantity=data["quantity"],
        best_before=data.get("best_before"),
        reference=data.get("reference") or "",
        actor=actor,
        request_id=form.request_id,
    )


def _correct(sp: StoreProduct, form: StockForm, actor: Any):
    data = form.cleaned_data
    return services.stock_correct(
        store_product=sp,
        counted=data["counted"],
        reason=data["reason"],
        actor=actor,
        request_id=form.request_id,
    )


def _write_off(sp: StoreProduct, form: StockForm, actor: Any):
    data = form.cleaned_data
    return services.stock_write_off(
        store_product=sp,
        quantity=data["quantity"],
        reason=data["reason"],
        actor=actor,
        request_id=form.request_id,
    )


STOCK_ACTIONS = {
    action.slug: action
    for action in (
        StockAction("receive", "Receive goods", StockReceiveForm, _receive),
        StockAction("correct", "Count correction", StockCorrectForm, _correct),
        StockAction("write-off", "Write off", StockWriteOffForm, _write_off),
    )
}


class ReadOnlyStoreInline(admin.TabularInline):
    """Rows under a store's row, shown to whoever may see that store; nobody
    adds, changes or deletes them here."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None) -> bool:
        return _parent_in_scope(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class OpenLotInline(LedgerQuantities, ReadOnlyStoreInline):
    """The lots still on the shelf, oldest first (read-only)."""

    model = StockLot
    verbose_name_plural = "lots on the shelf"
    fields = ("best_before", "received_at", "received", "left")
    readonly_fields = fields
    ordering = ("best_before", "pk")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(quantity_left__gt=0)
            .select_related("store_product__product")
        )


@admin.register(StoreProduct)
class StoreProductAdmin(StoreScopedAdmin):
    form = StoreProductAdminForm
    manager_can_add = True
    list_display = (
        "store_code",
        "sku",
        "name",
        "zone_code",
        "shelf_price_shown",
        "on_hand_shown",
        "reserved_shown",
        "online_available",
        "is_active",
        "stock_links",
        "price_links",
    )
    # The SKU opens the row too: it names the row where the store code does not.
    list_display_links = ("store_code", "sku")
    list_select_related = ("store", "product", "zone")
    list_filter = (
        StoreFilter,
        ("product__category", admin.RelatedOnlyFieldListFilter),
        ZoneFilter,
        "is_active",
        "product__is_daily_fresh",
    )
    search_fields = ("product__sku", "product__name", "store__code", "shelf_location")
    ordering = ("store__code", "product__sku")
    autocomplete_fields = ("product",)
    inlines = (OpenLotInline,)
    actions = ("print_shelf_labels",)
    change_form_template = "admin/inventory/storeproduct/change_form.html"
    stock_fields = (
        "shelf_price_shown",
        "on_hand_shown",
        "reserved_shown",
        "online_available",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("store", "product", "is_active")}),
        ("Shelf", {"fields": ("zone", "shelf_location")}),
        ("Money", {"fields": ("list_price", "unit_cost", "shelf_price_shown")}),
        (
            "Stock",
            {
                "fields": (
                    "on_hand_shown",
                    "reserved_shown",
                    "online_buffer",
                    "online_available",
                    "created_at",
                    "updated_at",
                ),
                "description": "Counts change only through Receive goods, Count "
                "correction and Write off (each writes a ledger row). The shelf "
                "price is set by pricing; a new store product starts at its list "
                "price.",
            },
        ),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store", "product", "zone")

    def save_model(self, request, obj, form, change) -> None:
        """Write through the inventory services, never ``obj.save()``.

        An edit writes only the settings the form changed, by primary key: the
        row the form was built from may hold counts that orders have changed
        since. A new store product is created by ``store_product_create`` (no
        stock, shelf price at the list price) and its values copied onto ``obj``
        for the admin's redirect and log; when a twin post created it first, the
        admin lands on that row.
        """
        if change:
            services.store_product_update(
                store_product=obj,
                data={
                    name: form.settings[name]
                    for name in form.changed_data
                    if name in form.settings
                },
            )
            return
        store, product = form.cleaned_data["store"], form.cleaned_data["product"]
        try:
            created = services.store_product_create(
                store=store, product=product, **form.settings
            )
        except InvalidInput as exc:
            if exc.extra.get("field") != "product":
                raise
            # A twin post (a double-clicked Save) created it a moment ago (the
            # form's own check saw nothing yet): land on that row.
            created = StoreProduct.objects.get(store=store, product=product)
        for field in StoreProduct._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.stock_fields
        # A store product's ledger belongs to its store and product: never re-pointed.
        return ("store", "product", *self.stock_fields)

    @admin.display(description="store", ordering="store__code")
    def store_code(self, obj: StoreProduct) -> str:
        return obj.store.code

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, obj: StoreProduct) -> str:
        return obj.product.sku

    @admin.display(description="name", ordering="product__name")
    def name(self, obj: StoreProduct) -> str:
        return obj.product.name

    @admin.display(description="zone", ordering="zone__code")
    def zone_code(self, obj: StoreProduct) -> str:
        return obj.zone.code if obj.zone else "-"

    @admin.display(description="shelf price", ordering="shelf_price")
    def shelf_price_shown(self, obj: StoreProduct) -> str:
        return _price(obj, obj.shelf_price)

    @admin.display(description="on hand", ordering="on_hand")
    def on_hand_shown(self, obj: StoreProduct) -> str:
        return _quantity(obj, obj.on_hand)

    @admin.display(description="reserved", ordering="reserved")
    def reserved_shown(self, obj: StoreProduct) -> str:
        return _quantity(obj, obj.reserved)

    @admin.display(description="online available")
    def online_available(self, obj: StoreProduct) -> str:
        return _quantity(obj, obj.available_online)

    @admin.display(description="price")
    def price_links(self, obj: StoreProduct) -> str:
        links = price_links_of(obj)
        return format_html_join(" | ", '<a href="{}">{}</a>', links) if links else "-"

    def render_change_form(
        self, request, context, add=False, change=False, form_url="", obj=None
    ):
        """The store product's page, with links to its price preview and chart."""
        if obj is not None and obj.pk:
            context["price_links"] = price_links_of(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="stock")
    def stock_links(self, obj: StoreProduct) -> str:
        return format_html_join(
            " | ",
            '<a href="{}">{}</a>',
            (
                (self._stock_url(obj, slug), action.title.lower())
                for slug, action in STOCK_ACTIONS.items()
            ),
        )

    def _stock_url(self, obj: StoreProduct, slug: str) -> str:
        return reverse(
            f"admin:inventory_storeproduct_{slug.replace('-', '_')}", args=[obj.pk]
        )

    # --- Stock screens --------------------------------------------------------

    def get_urls(self):
        stock_urls = [
            path(
                f"<path:object_id>/{slug}/",
                self.admin_site.admin_view(self._stock_view_for(slug)),
                name=f"inventory_storeproduct_{slug.replace('-', '_')}",
            )
            for slug in STOCK_ACTIONS
        ]
        return stock_urls + super().get_urls()

    def _stock_view_for(self, slug: str):
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            return self.stock_view(request, object_id, STOCK_ACTIONS[slug])

        return view

    def stock_view(
        self, request: HttpRequest, object_id: str, action: StockAction
    ) -> HttpResponse:
        """Show the stock form; on submit call the service, showing any refusal."""
        store_product = self.get_object(request, unquote(object_id))
        if store_product is None:
            raise Http404("No such store product.")
        if not self.has_change_permission(request, store_product):
            raise PermissionDenied
        form = action.form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                movement = action.run(store_product, form, request.user)
            except ApplicationError as exc:
                field = exc.extra.get("field")
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                store_product.refresh_from_db(fields=["on_hand", "reserved"])
                text = self._stock_message(action, store_product, movement)
                self.log_change(request, store_product, text)
                self.message_user(request, text, messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse(
                        "admin:inventory_storeproduct_change", args=[store_product.pk]
                    )
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action.title}: {store_product.product.name}",
            "subtitle": str(store_product),
            "opts": self.opts,
            "original": store_product,
            "store_product": store_product,
            "counts": {
                "on_hand": _quantity(store_product, store_product.on_hand),
                "reserved": _quantity(store_product, store_product.reserved),
                "available_online": _quantity(
                    store_product, store_product.available_online
                ),
            },
            "form": form,
            "action": action,
            "has_view_permission": True,
        }
        return TemplateResponse(
            request, "admin/inventory/storeproduct/stock_form.html", context
        )

    @staticmethod
    def _stock_message(
        action: StockAction, sp: StoreProduct, movement: StockMovement | None
    ) -> str:
        if movement is None:
            return (
                f"{sp}: the count matches ({_quantity(sp, sp.on_hand)}); "
                "nothing to record."
            )
        return (
            f"{action.title} for {sp}: on hand "
            f"{_signed_quantity(sp, movement.on_hand_delta)} "
            f"(now {_quantity(sp, sp.on_hand)}, "
            f"reserved {_quantity(sp, sp.reserved)})."
        )

    # --- Label sheet ----------------------------------------------------------

    @admin.action(description=_("Print shelf labels (PDF)"), permissions=["view"])
    def print_shelf_labels(self, request: HttpRequest, queryset: QuerySet):
        count = queryset.count()
        if not count:
            self.message_user(
                request, _("No store products to print."), messages.WARNING
            )
            return None
        if count > MAX_LABELS_PER_PRINT:
            self.message_user(
                request,
                f"Select at most {MAX_LABELS_PER_PRINT} store products to print "
                f"({count} selected).",
                messages.ERROR,
            )
            return None
        items = list(
            queryset.select_related("store", "product").order_by(
                "store__code", "shelf_location", "product__sku"
            )
        )
        today = timezone.localdate().isoformat()
        response = HttpResponse(
            labels.labels_pdf(items), content_type="application/pdf"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="shelf-labels-{today}.pdf"'
        )
        return response


# --- Lots, reservations and the ledger (read-only) ------------------------------


class OpenLotFilter(admin.SimpleListFilter):
    title = "on the shelf"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return (("yes", "Quantity left"), ("no", "Used up"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(quantity_left__gt=0)
        if self.value() == "no":
            return queryset.filter(quantity_left=0)
        return queryset


class LedgerAdmin(StoreScopedAdmin):
    store_lookup = "store_product__store"
    read_only = True
    list_select_related = ("store_product__store", "store_product__product")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.list_select_related)


@admin.register(StockLot)
class StockLotAdmin(LedgerQuantities, LedgerAdmin):
    list_display = (
        "store_product",
        "best_before",
        "received_at",
        "received",
        "left",
        "reference",
    )
    fields = (
        "store_product",
        "best_before",
        "received_at",
        "received",
        "left",
        "reference",
        "created_at",
    )
    readonly_fields = fields
    list_filter = (LedgerStoreFilter, OpenLotFilter, "best_before")
    search_fields = ("store_product__product__sku", "reference")
    date_hierarchy = "best_before"


@admin.register(Reservation)
class ReservationAdmin(LedgerQuantities, LedgerAdmin):
    list_display = (
        "reference",
        "store_product",
        "reserved_quantity",
        "picked",
        "state",
        "reserved_until",
        "created_at",
    )
    fields = (
        "reference",
        "store_product",
        "reserved_quantity",
        "picked",
        "state",
        "reserved_until",
        "created_at",
    )
    readonly_fields = fields
    list_filter = (LedgerStoreFilter, "state", "reserved_until")
    search_fields = ("reference", "store_product__product__sku")


@admin.register(StockMovement)
class StockMovementAdmin(LedgerQuantities, LedgerAdmin):
    list_display = (
        "created_at",
        "store_product",
        "kind",
        "on_hand_change",
        "reserved_change",
        "unit_price_shown",
        "reference",
        "reason",
        "actor",
    )
    list_select_related = (
        "store_product__store",
        "store_product__product",
        "actor",
    )
    fields = (
        "created_at",
        "store_product",
        "kind",
        "on_hand_change",
        "reserved_change",
        "unit_price_shown",
        "reference",
        "reason",
        "actor",
        "reservation",
        "request_id",
    )
    readonly_fields = fields
    list_filter = (LedgerStoreFilter, "kind", "created_at")
    search_fields = ("store_product__product__sku", "reference", "reason")
    date_hierarchy = "created_at"
    # The ledger grows without end: skip the unfiltered COUNT(*) on every page.
    show_full_result_count = False


# --- Stock reconcile runs (read-only) ---------------------------------------------


class ReconcileDriftInline(ReadOnlyStoreInline):
    """What each drifting store product should have (ledger, holds) and has."""

    model = ReconcileDrift
    verbose_name_plural = "drift found"
    fields = (
        "store_product",
        "on_hand_expected_shown",
        "on_hand_actual_shown",
        "reserved_expected_shown",
        "reserved_held_shown",
        "reserved_actual_shown",
    )
    readonly_fields = fields

    on_hand_expected_shown = _quantity_column("on_hand_expected", "on hand expected")
    on_hand_actual_shown = _quantity_column("on_hand_actual", "on hand actual")
    reserved_expected_shown = _quantity_column("reserved_expected", "reserved expected")
    reserved_held_shown = _quantity_column("reserved_held", "reserved held")
    reserved_actual_shown = _quantity_column("reserved_actual", "reserved actual")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("store_product__store", "store_product__product")
        )


@admin.register(ReconcileRun)
class ReconcileRunAdmin(StoreScopedAdmin):
    """The nightly comparison of each store's counts with its ledger."""

    read_only = True
    list_display = (
        "started_at",
        "store",
        "state",
        "products_checked",
        "drift_count",
        "duration",
    )
    list_select_related = ("store",)
    list_filter = (StoreFilter, "state", "started_at")
    date_hierarchy = "started_at"
    fields = (
        "store",
        "state",
        "started_at",
        "finished_at",
        "duration",
        "products_checked",
        "drift_count",
        "error",
    )
    readonly_fields = fields
    inlines = (ReconcileDriftInline,)

    @admin.display(description="duration (ms)")
    def duration(self, obj: ReconcileRun) -> int | None:
        return obj.duration_ms


# The forecast's screens (chart, accuracy, runs, forecasts) and the
# replenishment drafts live beside the forecast; importing them here registers
# them with the admin site.
from inventory.forecast import admin_forecast, admin_replenishment  # noqa: E402, F401
