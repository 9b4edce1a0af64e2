"""The managers' pricing screens: rules, limits, weather, history and a preview.

Rules, exemptions, markdown floors and store price settings keep their history
(django-simple-history: "History" on each), and each version lists what it
changed; a rule's version includes the factors saved with it
(``pricing.history``). A new or changed factor the store's limits would cut is
refused with warnings until "Save anyway" is ticked (``pricing.forms``). A save
that moves prices says when the shelf follows (the next hourly repricing). A
manager who is not a superuser sees and edits only the stores where they hold
the manager role. Prices read with currency and unit (``inventory.display``).

The store weather admin lives here rather than in inventory's admin because
pricing is what managers read it for.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from decimal import Decimal

from celery.schedules import crontab
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_celery_beat.models import PeriodicTask
from simple_history.admin import SimpleHistoryAdmin

from inventory import display
from inventory.admin import OtherStoreForbiddenMixin, StoreFilter
from inventory.models import StaffRole, Store, StoreProduct, StoreStaff
from inventory.weather import StoreWeather
from pricing.charts import step_chart_svg
from pricing.forms import (
    CONFIRM_FIELD,
    HourFactorFormSet,
    PriceRuleAdminForm,
    WeatherFactorFormSet,
    WeekdayFactorFormSet,
)
from pricing.history import field_changes, rule_version_changes
from pricing.models import (
    HourFactor,
    MarkdownFloor,
    MarkdownStep,
    PriceChange,
    PriceExemption,
    PriceRule,
    RepricingRun,
    StorePriceSettings,
    WeatherFactor,
    WeekdayFactor,
)
from pricing.selectors import price_at, price_history, price_preview

HISTORY_DAYS = 7
# The beat entry of the hourly repricing (hema/settings.py): its crontab says
# when a saved rule reaches the shelf.
REPRICING_BEAT_ENTRY = "pricing-reprice-hourly"


def price_text(store_product: StoreProduct, amount: Decimal | None) -> str:
    """A price of ``store_product`` as managers read it: ``CNY 12.80 / kg``."""
    return display.money(
        amount, store_product.store.currency, store_product.product.sale_unit
    )


def _repricing_schedule() -> tuple[set[int], set[int], dt.tzinfo, bool]:
    """The hourly repricing's minutes, hours, time zone and whether it is on.

    As beat runs it: the row django-celery-beat keeps (loaded from settings on
    start, editable in the admin), else the entry in ``CELERY_BEAT_SCHEDULE``.
    """
    task = (
        PeriodicTask.objects.filter(name=REPRICING_BEAT_ENTRY)
        .select_related("crontab")
        .first()
    )
    if task is not None and task.crontab is not None:
        row = task.crontab
        cron = crontab(minute=row.minute, hour=row.hour)
        tz = row.timezone
        if not isinstance(tz, dt.tzinfo):
            tz = zoneinfo.ZoneInfo(str(tz))
        return set(cron.minute), set(cron.hour), tz, task.enabled
    entry = settings.CELERY_BEAT_SCHEDULE.get(REPRICING_BEAT_ENTRY, {})
    schedule = entry.get("schedule")
    tz = zoneinfo.ZoneInfo(getattr(settings, "CELERY_TIMEZONE", None) or "UTC")
    if isinstance(schedule, crontab):
        return set(schedule.minute), set(schedule.hour), tz, True
    return {0}, set(range(24)), tz, bool(entry)


def next_repricing(now: dt.datetime) -> dt.datetime | None:
    """When the hourly repricing next runs after ``now`` (aware, UTC); None
    when it is switched off."""
    minutes, hours, tz, enabled = _repricing_schedule()
    if not enabled:
        return None
    moment = now.astimezone(tz).replace(second=0, microsecond=0)
    for _ in range(24 * 60):
        moment += dt.timedelta(minutes=1)
        if moment.minute in minutes and moment.hour in hours:
            return moment.astimezone(dt.UTC)
    return None


def shelf_follows_message(store: Store, now: dt.datetime | None = None) -> str:
    """What a manager is told after saving something that moves prices."""
    if not store.is_active:
        return f"{store.code} is not active: its shelf prices are not repriced."
    at = next_repricing(now or timezone.now())
    if at is None:
        return (
            f"The hourly repricing ({REPRICING_BEAT_ENTRY}) is switched off under "
            "Periodic tasks: shelf prices follow once it runs again."
        )
    return (
        f"Shelf prices of {store.code} follow at the next repricing, "
        f"{timezone.localtime(at, store.tz):%H:%M} (store time)."
    )


def managed_store_ids(request: HttpRequest) -> set[int] | None:
    """Stores the user manages; None for a superuser (every store)."""
    user = request.user
    if user.is_superuser:
        return None
    return set(
        StoreStaff.objects.filter(
            user=user, role=StaffRole.MANAGER, is_active=True
        ).values_list("store_id", flat=True)
    )


def store_product_for(request: HttpRequest, pk: int) -> StoreProduct:
    """The store product, or 404 if it is not in one of the user's stores."""
    store_product = get_object_or_404(
        StoreProduct.objects.select_related("store", "product"), pk=pk
    )
    allowed = managed_store_ids(request)
    if allowed is not None and store_product.store_id not in allowed:
        raise Http404("No such product in your stores.")
    return store_product


def store_product_links(store_product: StoreProduct) -> dict[str, str]:
    """The pricing screens of one store product and its own page."""
    return {
        "preview": reverse("admin:pricing_price_preview")
        + f"?store_product={store_product.pk}",
        "chart": reverse(
            "admin:pricing_product_price_history", args=[store_product.pk]
        ),
        "store_product": reverse(
            "admin:inventory_storeproduct_change", args=[store_product.pk]
        ),
    }


class StoreScopedAdmin(OtherStoreForbiddenMixin, admin.ModelAdmin):
    """Limits rows and store choices to the stores the user manages; another
    store's row answers 403.

    The object-level permissions check the row's store as well as the queryset
    does: the history screens (django-simple-history) load a row from its
    history table when the live row is outside the queryset, and would
    otherwise show and revert another store's rule.
    """

    store_path = "store"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        allowed = managed_store_ids(request)
        if allowed is None:
            return queryset
        return queryset.filter(**{f"{self.store_path}__in": allowed})

    def _in_scope(self, request: HttpRequest, obj) -> bool:
        if obj is None:
            return True
        allowed = managed_store_ids(request)
        return allowed is None or getattr(obj, f"{self.store_path}_id") in allowed

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) and self._in_scope(
            request, obj
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._in_scope(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._in_scope(
            request, obj
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "store":
            allowed = managed_store_ids(request)
            if allowed is not None:
                kwargs["queryset"] = Store.objects.filter(pk__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ScopedHistoryAdmin(StoreScopedAdmin, SimpleHistoryAdmin):
    """Scoped, with history; each version lists what it changed (field: old →
    new), never the timestamps every save touches."""

    def set_history_delta_changes(
        self, request, historical_records, foreign_keys_are_objs=True
    ) -> None:
        versions = list(historical_records)
        previous_of = self._previous_versions(versions)
        for version in versions:
            older = previous_of.get(version.history_id)
            changes = field_changes(version, older, model=self.model) if older else []
            version.history_delta_changes = [c.as_context() for c in changes]

    def _previous_versions(self, versions) -> dict:
        """Each version's previous one, also for the oldest of a page."""
        if not versions:
            return {}
        history = versions[0].__class__._default_manager
        key = self.model._meta.pk.attname
        every = list(
            history.filter(**{key: getattr(versions[0], key)}).order_by(
                "history_date", "history_id"
            )
        )
        return {newer.history_id: older for older, newer in itertools.pairwise(every)}


class ShelfFollowsAdmin(admin.ModelAdmin):
    """After a save that moves prices, say when the shelf follows.

    The hourly repricing is the one place shelf prices move: an edit often
    takes several saves (a rule, then another), and a half-made set of rules
    should not reach the shelf and the labels between them. So nothing is
    repriced at once; the message gives the time of the next run.
    """

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, shelf_follows_message(obj.store), messages.INFO)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        self.message_user(request, shelf_follows_message(obj.store), messages.INFO)
        return super().response_change(request, obj)


@admin.register(StorePriceSettings)
class StorePriceSettingsAdmin(ShelfFollowsAdmin, ScopedHistoryAdmin):
    list_select_related = ("store",)
    list_display = (
        "store",
        "min_margin",
        "max_uplift",
        "max_step_percent",
        "price_step",
        "markdown_starts_at",
        "markdown_floor",
    )
    fieldsets = (
        (None, {"fields": ("store",)}),
        (
            "Limits on every price",
            {"fields": ("min_margin", "max_uplift", "max_step_percent", "price_step")},
        ),
        (
            "Daily-fresh markdowns",
            {
                "fields": (
                    "markdown_starts_at",
                    "markdown_floor",
                    "markdown_step_percent",
                    "markdown_elasticity",
                )
            },
        ),
    )


class WeekdayFactorInline(admin.TabularInline):
    model = WeekdayFactor
    formset = WeekdayFactorFormSet
    extra = 0


class HourFactorInline(admin.TabularInline):
    model = HourFactor
    formset = HourFactorFormSet
    extra = 0


class WeatherFactorInline(admin.TabularInline):
    model = WeatherFactor
    formset = WeatherFactorFormSet
    extra = 0


@admin.register(PriceRule)
class PriceRuleAdmin(ShelfFollowsAdmin, ScopedHistoryAdmin):
    form = PriceRuleAdminForm
    list_display = ("store", "scope_display", "name", "is_active", "updated_at")
    list_select_related = ("store", "category", "product")
    list_filter = (StoreFilter, "is_active")
    search_fields = ("name", "product__sku", "category__name")
    raw_id_fields = ("product",)
    inlines = (WeekdayFactorInline, HourFactorInline, WeatherFactorInline)
    change_list_template = "admin/pricing/pricerule/change_list.html"
    change_form_template = "admin/pricing/pricerule/change_form.html"

    @admin.display(description="scope")
    def scope_display(self, obj: PriceRule) -> str:
        return obj.scope_label()

    def set_history_delta_changes(
        self, request, historical_records, foreign_keys_are_objs=True
    ) -> None:
        """Each version's own changes and the factor changes saved with it."""
        versions = list(historical_records)
        if not versions:
            return
        changes = rule_version_changes(versions[0].id, versions)
        for version in versions:
            version.history_delta_changes = [
                change.as_context() for change in changes.get(version.history_id, [])
            ]

    def render_change_form(
        self, request, context, add=False, change=False, form_url="", obj=None
    ):
        """Gather the factors' limit warnings, to show "Save anyway" beside Save."""
        warnings = [
            warning
            for inline in context.get("inline_admin_formsets", [])
            for warning in getattr(inline.formset, "limit_warnings", [])
        ]
        context.update(
            limit_warnings=warnings,
            confirm_field=CONFIRM_FIELD,
            confirm_checked=request.POST.get(CONFIRM_FIELD) == "on",
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="pricing_price_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """A product's price for each hour of the coming week under the rules
        and the stored forecast. Pick it by store code and SKU, or by id."""
        context = {
            **self.admin_site.each_context(request),
            "title": "Price preview: the coming week",
            "opts": self.model._meta,
            "store_code": request.GET.get("store", ""),
            "sku": request.GET.get("sku", ""),
        }
        store_product = None
        if request.GET.get("store_product"):
            try:
                pk = int(request.GET["store_product"])
            except ValueError:
                raise Http404("No such product.") from None
            store_product = store_product_for(request, pk)
        elif context["store_code"].strip() and context["sku"].strip():
            found = self._find_store_product(
                context["store_code"].strip(), context["sku"].strip()
            )
            if found is None:
                context["error"] = "No such product in that store."
            else:
                store_product = store_product_for(request, found)
        if store_product is not None:
            hours = price_preview(store_product=store_product)
            tz = store_product.store.tz
            points = [(h.starts, h.amount) for h in hours]
            context.update(
                store_product=store_product,
                hours=hours,
                rows=[(h, price_text(store_product, h.amount)) for h in hours],
                chart=step_chart_svg(
                    points,
                    start=hours[0].starts,
                    end=hours[-1].starts + dt.timedelta(hours=1),
                    tz=tz,
                    title=f"{store_product} next 7 days",
                    value_label=lambda amount: price_text(store_product, amount),
                ),
                low=min(h.amount for h in hours),
                high=max(h.amount for h in hours),
                prices=self._prices_of(store_product),
                links=store_product_links(store_product),
            )
            context["prices"].update(
                low=price_text(store_product, context["low"]),
                high=price_text(store_product, context["high"]),
            )
        return TemplateResponse(request, "admin/pricing/price_preview.html", context)

    @staticmethod
    def _find_store_product(store_code: str, sku: str) -> int | None:
        """The store product's id by store code and SKU, whatever their case.

        SKUs are unique as typed; an exact match wins over one in another case.
        """
        candidates = list(
            StoreProduct.objects.filter(
                store__code__iexact=store_code, product__sku__iexact=sku
            ).values_list("pk", "product__sku")
        )
        exact = [pk for pk, found_sku in candidates if found_sku == sku]
        if exact:
            return exact[0]
        return candidates[0][0] if candidates else None

    @staticmethod
    def _prices_of(store_product: StoreProduct) -> dict[str, str]:
        return {
            "list": price_text(store_product, store_product.list_price),
            "cost": price_text(store_product, store_product.unit_cost),
            "shelf": price_text(store_product, store_product.shelf_price),
        }


@admin.register(PriceExemption)
class PriceExemptionAdmin(ShelfFollowsAdmin, ScopedHistoryAdmin):
    list_display = ("store", "scope_display", "never_above_list", "note")
    list_select_related = ("store", "category", "product")
    list_filter = (StoreFilter, "never_above_list")
    raw_id_fields = ("product",)

    @admin.display(description="scope")
    def scope_display(self, obj: PriceExemption) -> str:
        return obj.scope_label()


@admin.register(MarkdownFloor)
class MarkdownFloorAdmin(ScopedHistoryAdmin):
    list_display = ("store", "category", "floor")
    list_select_related = ("store", "category")
    list_filter = (StoreFilter,)


class ReadOnlyAdmin(StoreScopedAdmin):
    """Rows written by jobs: managers read them, nobody edits them here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(PriceChange)
class PriceChangeAdmin(ReadOnlyAdmin):
    list_display = (
        "changed_at",
        "store_code",
        "sku",
        "old_price_shown",
        "new_price_shown",
        "kind",
        "reasons_text",
        "links",
    )
    list_filter = (StoreFilter, "kind")
    search_fields = ("store_product__product__sku",)
    date_hierarchy = "changed_at"
    list_select_related = ("store", "store_product__product", "store_product__store")

    @admin.display(description="store", ordering="store__code")
    def store_code(self, obj: PriceChange) -> str:
        return obj.store.code

    @admin.display(description="SKU", ordering="store_product__product__sku")
    def sku(self, obj: PriceChange) -> str:
        return obj.store_product.product.sku

    @admin.display(description="old price", ordering="old_price")
    def old_price_shown(self, obj: PriceChange) -> str:
        return price_text(obj.store_product, obj.old_price)

    @admin.display(description="new price", ordering="new_price")
    def new_price_shown(self, obj: PriceChange) -> str:
        return price_text(obj.store_product, obj.new_price)

    @admin.display(description="reasons")
    def reasons_text(self, obj: PriceChange) -> str:
        return "; ".join(obj.reasons)

    @admin.display(description="")
    def links(self, obj: PriceChange) -> str:
        history = reverse(
            "admin:pricing_product_price_history", args=[obj.store_product_id]
        )
        preview = reverse("admin:pricing_price_preview")
        return format_html(
            '<a href="{}">Price chart</a> · <a href="{}?store_product={}">'
            "Price preview</a>",
            history,
            preview,
            obj.store_product_id,
        )

    def get_urls(self):
        return [
            path(
                "product/<int:store_product_id>/",
                self.admin_site.admin_view(self.product_history_view),
                name="pricing_product_price_history",
            ),
            *super().get_urls(),
        ]

    def product_history_view(
        self, request: HttpRequest, store_product_id: int
    ) -> HttpResponse:
        """One product's price over the last seven days: a chart and the rows."""
        store_product = store_product_for(request, store_product_id)
        end = timezone.now()
        start = end - dt.timedelta(days=HISTORY_DAYS)
        changes = price_history(store_product=store_product, since=start)
        opening = price_at(store_product=store_product, at=start)
        points = [(start, opening)] + [(c.changed_at, c.new_price) for c in changes]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Price history of {store_product}",
            "opts": self.model._meta,
            "store_product": store_product,
            "changes": list(reversed(changes)),
            "rows": [
                (
                    change,
                    price_text(store_product, change.old_price),
                    price_text(store_product, change.new_price),
                )
                for change in reversed(changes)
            ],
            "chart": step_chart_svg(
                points,
                start=start,
                end=end,
                tz=store_product.store.tz,
                title=f"{store_product} last {HISTORY_DAYS} days",
                value_label=lambda amount: price_text(store_product, amount),
            ),
            "opening": opening,
            "prices": {
                "shelf": price_text(store_product, store_product.shelf_price),
                "opening": price_text(store_product, opening),
            },
            "links": store_product_links(store_product),
            "days": HISTORY_DAYS,
        }
        return TemplateResponse(request, "admin/pricing/price_history.html", context)


@admin.register(RepricingRun)
class RepricingRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "store",
        "trigger",
        "state",
        "products_priced",
        "prices_changed",
        "markdowns_stepped",
        "weather_source",
        "duration_ms",
        "heartbeat_at",
    )
    list_select_related = ("store",)
    list_filter = (StoreFilter, "trigger", "state", "weather_source")
    date_hierarchy = "started_at"


@admin.register(MarkdownStep)
class MarkdownStepAdmin(ReadOnlyAdmin):
    list_display = (
        "decided_at",
        "store",
        "store_product",
        "trading_day",
        "percent_off",
        "stock_left_shown",
        "expected_demand_shown",
    )
    list_filter = (StoreFilter, "trading_day")
    list_select_related = ("store", "store_product__product", "store_product__store")

    @admin.display(description="off list", ordering="percent")
    def percent_off(self, obj: MarkdownStep) -> str:
        return f"{obj.percent.normalize():f}%"

    @admin.display(description="stock left", ordering="stock_left")
    def stock_left_shown(self, obj: MarkdownStep) -> str:
        return display.quantity(obj.stock_left, obj.store_product.product.sale_unit)

    @admin.display(description="expected demand", ordering="expected_demand")
    def expected_demand_shown(self, obj: MarkdownStep) -> str:
        return display.quantity(
            obj.expected_demand, obj.store_product.product.sale_unit
        )


@admin.register(StoreWeather)
class StoreWeatherAdmin(ReadOnlyAdmin):
    list_display = (
        "hour",
        "store",
        "condition",
        "temperature",
        "precipitation",
        "is_forecast",
        "fetched_at",
    )
    list_select_related = ("store",)
    list_filter = (StoreFilter, "is_forecast", "condition")
    date_hierarchy = "hour"
