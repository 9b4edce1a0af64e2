"""The managers' screens for orders, members and wallets.

Orders are read-only records except for two actions a store manager takes with a
reason: cancel (before picking; stock back, refund in full) and refund (part or
all of what was paid). Both call the same services as the API, and each form
carries a one-time token that becomes the refund's request id: a double click
(or a resubmitted page) finds the first refund and changes nothing twice.
Wallet balances and their ledgers are read-only for everyone: money moves only
through services.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from hema.errors import ApplicationError
from inventory.admin import StoreFilter, StoreScopedAdmin, managed_store_ids
from orders import lifecycle, refunds
from orders.errors import InvalidTransition
from orders.models import (
    Member,
    Order,
    OrderEvent,
    OrderLine,
    OrderState,
    Payment,
    Refund,
    RefundState,
    Wallet,
    WalletEntry,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = (
        "sku",
        "name",
        "quantity",
        "unit_price",
        "line_total",
        "tax_amount",
        "state",
    )
    readonly_fields = fields


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("created_at", "from_state", "to_state", "actor", "note")
    readonly_fields = fields


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ("method", "amount", "state", "provider_reference", "succeeded_at")
    readonly_fields = fields


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = (
        "amount",
        "reason",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "actor",
        "created_at",
    )
    readonly_fields = fields


class OneTimeForm(forms.Form):
    """A form whose page carries a fresh token; a POST sent twice carries the
    same one, which the service keeps as the refund's request id."""

    # A uuid4's 32 hex digits: "admin-" and it fit the refund's request id.
    token = forms.RegexField(regex=r"^[0-9a-f]{32}\Z", widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("initial", {"token": uuid.uuid4().hex})
        super().__init__(*args, **kwargs)


class CancelForm(OneTimeForm):
    reason = forms.CharField(max_length=255)


class RefundForm(OneTimeForm):
    amount = forms.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01")
    )
    reason = forms.CharField(max_length=255)


@admin.register(Order)
class OrderAdmin(StoreScopedAdmin):
    list_display = (
        "number",
        "store",
        "channel",
        "fulfilment_mode",
        "state",
        "refund_status",
        "total",
        "refunded_total",
        "created_at",
    )
    list_filter = (StoreFilter, "channel", "state", "fulfilment_mode", "refund_status")
    date_hierarchy = "created_at"
    search_fields = ("number", "member__user__email", "member__user__phone")
    list_select_related = ("store",)
    readonly_fields = (
        "number",
        "uuid",
        "member",
        "store",
        "channel",
        "fulfilment_mode",
        "state",
        "refund_status",
        "currency",
        "subtotal",
        "tax_total",
        "total",
        "refunded_total",
        "delivery_label",
        "delivery_distance_km",
        "promised_by",
        "payment_due_at",
        "paid_at",
        "created_at",
    )
    fields = readonly_fields
    inlines = (OrderLineInline, PaymentInline, RefundInline, OrderEventInline)
    change_form_template = "admin/orders/order/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/cancel/",
                wrap(self.cancel_view),
                name="orders_order_cancel",
            ),
            path(
                "<path:object_id>/refund/",
                wrap(self.refund_view),
                name="orders_order_refund",
            ),
            *super().get_urls(),
        ]

    def _order_for_action(self, request: HttpRequest, object_id: str) -> Order:
        order = self.get_object(request, unquote(object_id))
        if order is None:
            raise Http404("No such order.")
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        return order

    def _action_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_class: type[forms.Form],
        title: str,
        act,
    ) -> HttpResponse:
        order = self._order_for_action(request, object_id)
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                message = act(order, form.cleaned_data, request.user)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:orders_order_change", args=[order.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title}: {order.number}",
            "button": title,
            "order": order,
            "form": form,
            "opts": self.model._meta,
            "refundable": order.total - order.refunded_total,
        }
        return TemplateResponse(request, "admin/orders/order/action_form.html", context)

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def act(order: Order, data: dict, user) -> str:
            try:
                lifecycle.order_cancel(
                    order=order,
                    actor=user,
                    reason=data["reason"],
                    request_id=f"admin-{data['token']}",
                )
            except InvalidTransition:
                # An unpaid order cancelled by the first of two clicks: no
                # refund carries the token, and the answer is the same.
                if Order.objects.get(pk=order.pk).state != OrderState.CANCELLED:
                    raise
            return f"Order {order.number} cancelled; stock released, refund queued."

        return self._action_view(request, object_id, CancelForm, "Cancel order", act)

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def act(order: Order, data: dict, user) -> str:
            refund = refunds.order_refund(
                order=order,
                amount=data["amount"],
                reason=data["reason"],
                actor=user,
                request_id=f"admin-{data['token']}",
            )
            return f"Refund of {refund.amount} on {order.number} queued."

        return self._action_view(request, object_id, RefundForm, "Refund order", act)


class RefundStoreFilter(StoreFilter):
    store_lookup = "order__store"


@admin.register(Refund)
class RefundAdmin(StoreScopedAdmin):
    """Every refund of the manager's stores; the ones that need attention (their
    retries used up) stand out and are sent again with the retry action.

    Rows are read-only: a refund changes only through ``orders.refunds``.
    """

    store_lookup = "order__store"
    read_only = True
    list_display = (
        "order",
        "amount",
        "state_shown",
        "attempts",
        "next_attempt_at",
        "last_error",
        "reason",
        "created_at",
    )
    list_filter = ("state", RefundStoreFilter, "payment__method")
    search_fields = ("order__number", "uuid", "provider_refund_id")
    list_select_related = ("order", "payment")
    date_hierarchy = "created_at"
    actions = ("retry_refunds",)
    fields = (
        "uuid",
        "order",
        "payment",
        "line",
        "amount",
        "reason",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "request_id",
        "provider_key",
        "provider_refund_id",
        "actor",
        "created_at",
        "succeeded_at",
    )
    readonly_fields = fields

    @admin.display(description="state", ordering="state")
    def state_shown(self, refund: Refund) -> str:
        if refund.state == RefundState.NEEDS_ATTENTION:
            return format_html(
                '<strong style="color:#ba2121">{}</strong>',
                refund.get_state_display(),
            )
        return refund.get_state_display()

    def has_retry_permission(self, request: HttpRequest) -> bool:
        ids = managed_store_ids(request)
        return ids is None or bool(ids)

    @admin.action(
        permissions=["retry"], description="Retry the selected failed refunds now"
    )
    def retry_refunds(self, request: HttpRequest, queryset) -> None:
        retried, refused = [], []
        for refund in queryset.select_related("order").order_by("pk"):
            try:
                refunds.refund_retry(refund=refund, actor=request.user)
            except ApplicationError as exc:
                refused.append(f"{refund.order.number}: {exc.message}")
            else:
                retried.append(refund.order.number)
        if retried:
            self.message_user(
                request,
                f"Retrying {len(retried)} refund(s): {', '.join(retried)}.",
                messages.SUCCESS,
            )
        for message in refused:
            self.message_user(request, message, messages.WARNING)


class WalletEntryInline(ReadOnlyInline):
    model = WalletEntry
    fields = ("created_at", "kind", "amount", "reference")
    readonly_fields = fields


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    """Balances are read-only: they move only through payments, top-ups, refunds."""

    list_display = ("member", "balance", "currency", "updated_at")
    search_fields = ("member__user__email", "member__user__phone")
    list_select_related = ("member__user",)
    readonly_fields = ("member", "balance", "currency")
    inlines = (WalletEntryInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at")
    search_fields = ("user__email", "user__phone", "user__full_name")
    list_select_related = ("user",)
    readonly_fields = ("user", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
