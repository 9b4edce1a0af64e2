"""The managers' replenishment screens: review a draft, edit, approve, receive.

Scoped like the rest of inventory's admin (``inventory.admin.StoreScopedAdmin``):
a manager sees the orders of the stores they manage, another store's order
answers 403. A draft's quantities are edited on its page (each changed line
through ``replenishment_line_set_quantity``); "Approve" makes them final (the
page is read-only from then on); "Receive" on an approved order asks what
arrived (the ordered quantities to start with) and puts it on the shelf through
``stock_receive``, once. "Cancel" drops a draft or an approved order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from hema.errors import ApplicationError
from inventory import display
from inventory.admin import StoreFilter, StoreScopedAdmin, _parent_in_scope
from inventory.forecast.models import (
    ForecastSettings,
    ReplenishmentLine,
    ReplenishmentOrder,
    ReplenishmentState,
)
from inventory.replenishment import (
    replenishment_approve,
    replenishment_cancel,
    replenishment_line_set_quantity,
    replenishment_receive,
)
from inventory.services import parse_quantity


def _qty(line: ReplenishmentLine, value) -> str:
    if value is None:
        return "-"
    return display.quantity(value, line.store_product.product.sale_unit)


class ReplenishmentLineForm(forms.ModelForm):
    class Meta:
        model = ReplenishmentLine
        fields = ("quantity",)

    def clean_quantity(self):
        try:
            return parse_quantity(
                product=self.instance.store_product.product,
                quantity=self.cleaned_data["quantity"],
                allow_zero=True,
            )
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None


def _column(field: str, title: str) -> Callable[[Any, ReplenishmentLine], str]:
    @admin.display(description=title)
    def column(inline: Any, line: ReplenishmentLine) -> str:
        return _qty(line, getattr(line, field))

    return column


class ReplenishmentLineInline(admin.TabularInline):
    """The lines; only a draft's quantities can be changed."""

    model = ReplenishmentLine
    form = ReplenishmentLineForm
    extra = 0
    can_delete = False
    fields = (
        "product",
        "demand",
        "safety",
        "on_hand_shown",
        "on_order_shown",
        "suggested_shown",
        "quantity",
        "received_shown",
    )
    readonly_fields = (
        "product",
        "demand",
        "safety",
        "on_hand_shown",
        "on_order_shown",
        "suggested_shown",
        "received_shown",
    )
    demand = _column("forecast_demand", "forecast demand")
    safety = _column("safety_stock", "safety stock")
    on_hand_shown = _column("on_hand", "on hand")
    on_order_shown = _column("on_order", "on order")
    suggested_shown = _column("suggested", "suggested")
    received_shown = _column("received", "received")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("store_product__product")
            .order_by("store_product__product__sku")
        )

    @admin.display(description="product")
    def product(self, line: ReplenishmentLine) -> str:
        product = line.store_product.product
        return f"{product.sku} {product.name} (case {_qty(line, product.case_size)})"

    def has_view_permission(self, request, obj=None) -> bool:
        return _parent_in_scope(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.state != ReplenishmentState.DRAFT:
            return False
        return _parent_in_scope(request, obj)


class ReceiveForm(forms.Form):
    """What arrived, per line (the ordered quantity to start with)."""

    def __init__(self, *args, lines: list[ReplenishmentLine], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            product = line.store_product.product
            self.fields[f"line_{line.pk}"] = forms.DecimalField(
                label=f"{product.sku} {product.name}",
                initial=line.quantity,
                min_value=0,
                help_text=f"ordered {_qty(line, line.quantity)}",
            )

    def received(self) -> dict[int, Any]:
        return {line.pk: self.cleaned_data[f"line_{line.pk}"] for line in self.lines}


@admin.register(ReplenishmentOrder)
class ReplenishmentOrderAdmin(StoreScopedAdmin):
    list_display = (
        "delivery_day",
        "store_code",
        "supplier",
        "state",
        "line_count",
        "approved_by",
        "received_at",
    )
    list_select_related = ("store", "supplier", "approved_by")
    list_filter = (StoreFilter, "state", "delivery_day")
    ordering = ("-delivery_day", "store__code", "supplier__name")
    fields = (
        "store",
        "supplier",
        "delivery_day",
        "state",
        "run",
        "approved_by",
        "approved_at",
        "received_at",
    )
    readonly_fields = fields
    inlines = (ReplenishmentLineInline,)
    change_form_template = "admin/inventory/replenishmentorder/change_form.html"

    @admin.display(description="store", ordering="store__code")
    def store_code(self, order: ReplenishmentOrder) -> str:
        return order.store.code

    @admin.display(description="lines")
    def line_count(self, order: ReplenishmentOrder) -> int:
        return order.lines.count()

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.state != ReplenishmentState.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        """Nothing on the order itself is edited here (its lines are)."""

    def save_formset(self, request, form, formset, change) -> None:
        """Each changed quantity through the service, never ``formset.save()``
        (the admin's change message reads what was changed from the formset)."""
        formset.new_objects, formset.changed_objects, formset.deleted_objects = (
            [],
            [],
            [],
        )
        for line_form in formset.forms:
            if "quantity" not in line_form.changed_data:
                continue
            try:
                replenishment_line_set_quantity(
                    line=line_form.instance,
                    quantity=line_form.cleaned_data["quantity"],
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
            formset.changed_objects.append((line_form.instance, ["quantity"]))

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None:
            scoped = self._in_scope(request, obj)
            context["can_approve"] = scoped and obj.state == ReplenishmentState.DRAFT
            context["can_receive"] = scoped and obj.state == ReplenishmentState.APPROVED
            context["can_cancel"] = scoped and obj.state in (
                ReplenishmentState.DRAFT,
                ReplenishmentState.APPROVED,
            )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    # --- Approve, receive, cancel ----------------------------------------------

    def get_urls(self):
        steps = [
            path(
                f"<path:object_id>/{step}/",
                self.admin_site.admin_view(self._step_view(step)),
                name=f"inventory_replenishmentorder_{step}",
            )
            for step in ("approve", "receive", "cancel")
        ]
        return steps + super().get_urls()

    def _step_view(self, step: str):
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            return self.step_view(request, object_id, step)

        return view

    def step_view(
        self, request: HttpRequest, object_id: str, step: str
    ) -> HttpResponse:
        """A confirmation page; its POST calls the service (refusals shown)."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            raise Http404("No such replenishment order.")
        if not self._in_scope(request, order):
            raise PermissionDenied
        lines = list(
            order.lines.select_related("store_product__product").order_by(
                "store_product__product__sku"
            )
        )
        form = None
        if step == "receive":
            form = ReceiveForm(request.POST or None, lines=lines)
        change_url = reverse(
            "admin:inventory_replenishmentorder_change", args=[order.pk]
        )
        if request.method == "POST" and (form is None or form.is_valid()):
            try:
                if step == "approve":
                    replenishment_approve(order=order, actor=request.user)
                    text = f"Approved: {order}."
                elif step == "receive":
                    replenishment_receive(
                        order=order, actor=request.user, received=form.received()
                    )
                    text = f"Received: {order}; the goods are on hand."
                else:
                    replenishment_cancel(order=order)
                    text = f"Cancelled: {order}."
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.log_change(request, order, text)
                self.message_user(request, text, messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{step.capitalize()} {order}",
            "opts": self.opts,
            "original": order,
            "order": order,
            "lines": [(line, _qty(line, line.quantity)) for line in lines],
            "form": form,
            "step": step,
            "change_url": change_url,
            "has_view_permission": True,
        }
        return TemplateResponse(
            request, "admin/inventory/replenishmentorder/step.html", context
        )


@admin.register(ForecastSettings)
class ForecastSettingsAdmin(StoreScopedAdmin):
    """What a manager trades off: the replenishment's service level, how far
    daily fresh may be ordered, the cover period, and the online buffer's
    service level and order wait. A store without a row runs on the defaults
    shown on "Add"."""

    list_display = (
        "store",
        "service_level",
        "fresh_cap",
        "cover_days",
        "buffer_service_level",
        "order_wait_minutes",
        "horizon_days",
    )
    list_filter = (StoreFilter,)
    manager_can_add = True
