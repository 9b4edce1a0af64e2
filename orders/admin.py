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
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from hema.errors import ApplicationError
from inventory.admin import (
    OtherStoreForbiddenMixin,
    StoreFilter,
    StoreScopedAdmin,
    managed_store_ids,
)
from inventory.display import money, quantity
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


class OrderPartInline(ReadOnlyInline):
    """Rows of one order (lines, payments, refunds, events): whoever may see the
    order sees them. The order admin has already scoped the order to the
    manager's stores; Django's model permissions play no part, as for the
    order itself."""

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        ids = managed_store_ids(request)
        if ids is None:
            return True
        if obj is None:
            return bool(ids)
        return obj.store_id in ids


class OrderLineInline(OrderPartInline):
    model = OrderLine
    fields = (
        "sku",
        "name",
        "quantity_shown",
        "unit_price_shown",
        "line_total_shown",
        "tax_shown",
        "state",
    )
    readonly_fields = fields

    @admin.display(description="quantity")
    def quantity_shown(self, line: OrderLine) -> str:
        return quantity(line.quantity, line.sale_unit)

    @admin.display(description="unit price")
    def unit_price_shown(self, line: OrderLine) -> str:
        return money(line.unit_price, line.order.currency, line.sale_unit)

    @admin.display(description="line total")
    def line_total_shown(self, line: OrderLine) -> str:
        return money(line.line_total, line.order.currency)

    @admin.display(description="tax included")
    def tax_shown(self, line: OrderLine) -> str:
        return money(line.tax_amount, line.order.currency)


class OrderEventInline(OrderPartInline):
    model = OrderEvent
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    fields = ("created_at", "what_happened", "actor")
    readonly_fields = fields

    @admin.display(description="what happened")
    def what_happened(self, event: OrderEvent) -> str:
        return event_summary(event)


def event_summary(event: OrderEvent) -> str:
    """A timeline entry as a person reads it.

    A state change reads ``paid -> completed`` (with its note); an entry that
    changed no state (a refund, a shortage, a substitution, a retry) records
    the order's state as both ends, so it reads as its note and the state the
    order stayed in, never ``completed -> completed``.
    """
    note = event.note.strip()
    if event.from_state != event.to_state:
        change = f"{event.from_state or 'new'} \u2192 {event.to_state}"
        return f"{change}: {note}" if note else change
    what = note[:1].upper() + note[1:] if note else "Note"
    return f"{what} (order stays {event.to_state})"


class PaymentInline(OrderPartInline):
    model = Payment
    fields = ("method", "amount_shown", "state", "provider_reference", "succeeded_at")
    readonly_fields = fields

    @admin.display(description="amount")
    def amount_shown(self, payment: Payment) -> str:
        return money(payment.amount, payment.currency)


class RefundInline(OrderPartInline):
    model = Refund
    fields = (
        "amount_shown",
        "line_shown",
        "reason",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "actor",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="amount")
    def amount_shown(self, refund: Refund) -> str:
        return money(refund.amount, refund.order.currency)

    @admin.display(description="line")
    def line_shown(self, refund: Refund) -> str:
        return f"{refund.line.sku} {refund.line.name}" if refund.line_id else "-"


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
    """How much to give back and why; optionally for one line, whose total is
    the amount when none is typed."""

    line = forms.ModelChoiceField(
        queryset=OrderLine.objects.none(),
        required=False,
        empty_label="(the whole order)",
        help_text="The line the shopper is refunded for, if it is one line.",
    )
    amount = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text="Leave empty to refund the chosen line's total.",
    )
    reason = forms.CharField(max_length=255)

    def __init__(self, *args, order: Order, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        line_field = self.fields["line"]
        line_field.queryset = order.lines.order_by("pk")
        line_field.label_from_instance = lambda line: (
            f"{line.sku} {line.name}: {quantity(line.quantity, line.sale_unit)}, "
            f"{money(line.line_total, order.currency)}"
        )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("amount") is None:
            line = data.get("line")
            if line is None:
                self.add_error("amount", "Give an amount, or choose a line.")
            else:
                data["amount"] = line.line_total
        return data


@admin.register(Order)
class OrderAdmin(StoreScopedAdmin):
    list_display = (
        "number",
        "store",
        "channel",
        "fulfilment_mode",
        "state",
        "refund_status",
        "total_shown",
        "refunded_shown",
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
        "subtotal_shown",
        "tax_shown",
        "total_shown",
        "refunded_shown",
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

    @admin.display(description="subtotal", ordering="subtotal")
    def subtotal_shown(self, order: Order) -> str:
        return money(order.subtotal, order.currency)

    @admin.display(description="tax included", ordering="tax_total")
    def tax_shown(self, order: Order) -> str:
        return money(order.tax_total, order.currency)

    @admin.display(description="total", ordering="total")
    def total_shown(self, order: Order) -> str:
        return money(order.total, order.currency)

    @admin.display(description="refunded", ordering="refunded_total")
    def refunded_shown(self, order: Order) -> str:
        return money(order.refunded_total, order.currency)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """Every field is read-only: the page offers no Save buttons (cancel and
        refund are its actions). ``has_change_permission`` stays true for a
        manager of the store, since it is what those actions ask."""
        if request.method == "POST":
            raise PermissionDenied
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

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
        kwargs = {"order": order} if form_class is RefundForm else {}
        form = form_class(request.POST or None, **kwargs)
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
            "total": money(order.total, order.currency),
            "refundable": money(order.total - order.refunded_total, order.currency),
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
                line=data.get("line"),
            )
            amount = money(refund.amount, order.currency)
            return f"Refund of {amount} on {order.number} queued."

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
        "amount_shown",
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
        "amount_shown",
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

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, refund: Refund) -> str:
        return money(refund.amount, refund.order.currency)

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
    fields = ("created_at", "kind", "amount_shown", "reference")
    readonly_fields = fields

    @admin.display(description="amount")
    def amount_shown(self, entry: WalletEntry) -> str:
        return money(entry.amount, entry.wallet.currency)


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    """Balances are read-only: they move only through payments, top-ups, refunds."""

    list_display = ("member", "balance_shown", "updated_at")
    search_fields = ("member__user__email", "member__user__phone")
    list_select_related = ("member__user",)
    fields = ("member", "balance_shown")
    readonly_fields = fields
    inlines = (WalletEntryInline,)

    @admin.display(description="balance", ordering="balance")
    def balance_shown(self, wallet: Wallet) -> str:
        return money(wallet.balance, wallet.currency)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class MemberOrderInline(ReadOnlyInline):
    """The member's orders, at the manager's stores only: what a manager needs
    to answer "this shopper called about an order"."""

    model = Order
    fk_name = "member"
    verbose_name_plural = "orders at your stores"
    fields = ("number", "store", "state", "refund_status", "total_shown", "created_at")
    readonly_fields = fields
    show_change_link = True
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).select_related("store")
        ids = managed_store_ids(request)
        return queryset if ids is None else queryset.filter(store_id__in=ids)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        ids = managed_store_ids(request)
        return ids is None or bool(ids)

    @admin.display(description="total")
    def total_shown(self, order: Order) -> str:
        return money(order.total, order.currency)


@admin.register(Member)
class MemberAdmin(OtherStoreForbiddenMixin, admin.ModelAdmin):
    """Read-only for everyone. A superuser sees every member; a store manager
    sees the members who ordered at one of their stores (the order page links
    there), with those orders; another member answers 403."""

    list_display = ("user", "created_at")
    search_fields = ("user__email", "user__phone", "user__full_name")
    list_select_related = ("user",)
    fields = ("user", "created_at")
    readonly_fields = fields
    inlines = (MemberOrderInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        ids = managed_store_ids(request)
        if not ids:
            # A superuser, or chain staff without a store: model permissions.
            return queryset
        ordered_here = Order.objects.filter(member=OuterRef("pk"), store_id__in=ids)
        return queryset.filter(Exists(ordered_here))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or bool(
            managed_store_ids(request)
        )

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        ids = managed_store_ids(request)
        if ids is None or not ids:
            return super().has_view_permission(request, obj)
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
