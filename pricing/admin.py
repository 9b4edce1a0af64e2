"""The managers' pricing screens: rules, limits, weather, history and a preview.

Rules, exemptions, markdown floors and store price settings keep their history
(django-simple-history: "History" on each). A manager who is not a superuser
sees and edits only the stores where they hold the manager role.

The store weather admin lives here rather than in inventory's admin because
pricing is what managers read it for.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from inventory.admin import OtherStoreForbiddenMixin
from inventory.models import StaffRole, Store, StoreProduct, StoreStaff
from inventory.weather import StoreWeather
from pricing.charts import step_chart_svg
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
    pass


@admin.register(StorePriceSettings)
class StorePriceSettingsAdmin(ScopedHistoryAdmin):
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
    extra = 0


class HourFactorInline(admin.TabularInline):
    model = HourFactor
    extra = 0


class WeatherFactorInline(admin.TabularInline):
    model = WeatherFactor
    extra = 0


@admin.register(PriceRule)
class PriceRuleAdmin(ScopedHistoryAdmin):
    list_display = ("store", "scope_display", "name", "is_active", "updated_at")
    list_filter = ("store", "is_active")
    search_fields = ("name", "product__sku", "category__name")
    raw_id_fields = ("product",)
    inlines = (WeekdayFactorInline, HourFactorInline, WeatherFactorInline)
    change_list_template = "admin/pricing/pricerule/change_list.html"

    @admin.display(description="scope")
    def scope_display(self, obj: PriceRule) -> str:
        return obj.scope_label()

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
        elif context["store_code"] and context["sku"]:
            found = (
                StoreProduct.objects.filter(
                    store__code=context["store_code"].upper(),
                    product__sku=context["sku"],
                )
                .values_list("pk", flat=True)
                .first()
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
                chart=step_chart_svg(
                    points,
                    start=hours[0].starts,
                    end=hours[-1].starts + dt.timedelta(hours=1),
                    tz=tz,
                    title=f"{store_product} next 7 days",
                ),
                low=min(h.amount for h in hours),
                high=max(h.amount for h in hours),
            )
        return TemplateResponse(request, "admin/pricing/price_preview.html", context)


@admin.register(PriceExemption)
class PriceExemptionAdmin(ScopedHistoryAdmin):
    list_display = ("store", "scope_display", "never_above_list", "note")
    list_filter = ("store", "never_above_list")
    raw_id_fields = ("product",)

    @admin.display(description="scope")
    def scope_display(self, obj: PriceExemption) -> str:
        return obj.scope_label()


@admin.register(MarkdownFloor)
class MarkdownFloorAdmin(ScopedHistoryAdmin):
    list_display = ("store", "category", "floor")
    list_filter = ("store",)


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
        "store",
        "sku",
        "old_price",
        "new_price",
        "kind",
        "reasons_text",
        "links",
    )
    list_filter = ("store", "kind")
    search_fields = ("store_product__product__sku",)
    date_hierarchy = "changed_at"
    list_select_related = ("store", "store_product__product")

    @admin.display(description="SKU", ordering="store_product__product__sku")
    def sku(self, obj: PriceChange) -> str:
        return obj.store_product.product.sku

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
            '<a href="{}">7 days</a> · <a href="{}?store_product={}">preview</a>',
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
            "chart": step_chart_svg(
                points,
                start=start,
                end=end,
                tz=store_product.store.tz,
                title=f"{store_product} last {HISTORY_DAYS} days",
            ),
            "opening": opening,
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
    list_filter = ("store", "trigger", "state", "weather_source")
    date_hierarchy = "started_at"


@admin.register(MarkdownStep)
class MarkdownStepAdmin(ReadOnlyAdmin):
    list_display = (
        "decided_at",
        "store",
        "store_product",
        "trading_day",
        "percent",
        "stock_left",
        "expected_demand",
    )
    list_filter = ("store", "trading_day")
    list_select_related = ("store", "store_product__product", "store_product__store")


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
    list_filter = ("store", "is_forecast", "condition")
    date_hierarchy = "hour"
