"""Replenishment: what each supplier should deliver, from the demand forecast.

The rule, per active store product with a supplier and a forecast (one draft
order per supplier and delivery day; lines with nothing to order are left out):

    demand   = forecast units over the cover period (the delivery day and the
               ``cover_days - 1`` days after it; ``ForecastSettings`` or its
               defaults when the store has no row)
    safety   = z(service level) x sigma, sigma from the forecast's 80% interval:
               for a normal error the interval is +-1.2816 sigma, so each day's
               sigma is (upper - lower) / 2.5631, and the cover period's is the
               square root of the days' squares summed (days independent).
               The interval, not the recent error against the sales history:
               it exists for a new product too and is the method's own spread.
    on hand  = units on the shelf that will still sell on the delivery day:
               a perishable product counts only its lots whose best-before is
               on or after the delivery day (never more than the count); a daily
               -fresh product counts nothing (what is left tonight is not sold
               tomorrow); others count the whole count
    on order = approved orders not yet received, for a delivery day before the
               end of the cover period (an overdue one included)
    need     = demand + safety - on hand - on order; nothing when <= 0
    quantity = need rounded up to the product's case size; a daily-fresh product
               never more than the delivery day's 80% upper bound (what is
               left in the evening is marked down to sell out), or than its
               forecast when the store's ``fresh_cap`` says so (then whole
               cases below the cap; none when not even one case fits)

The draft is meant to be made after the store closes on the eve of the delivery
(after the nightly forecast): the stock counted is the stock the delivery
meets.

States: draft (a manager edits quantities) -> approved (no more edits) ->
received (through ``stock_receive``, into lots with best-before dates from the
shelf life), or cancelled. Running the draft again for the same day replaces a
draft; an approved or received order of that supplier and day is left alone.
Each step is one conditional UPDATE on the order's state, so a double click
approves or receives once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from statistics import NormalDist
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from hema.errors import Conflict, InvalidInput
from inventory.forecast.models import (
    DemandForecast,
    ForecastRun,
    ForecastSettings,
    FreshCap,
    ReplenishmentLine,
    ReplenishmentOrder,
    ReplenishmentState,
)
from inventory.models import StockLot, Store, StoreProduct
from inventory.services import parse_quantity, stock_receive

ZERO = Decimal("0.000")
STEP = Decimal("0.001")
# Half the width of an 80% normal interval, in standard deviations.
Z_80_HALF_WIDTH = Decimal(str(NormalDist().inv_cdf(0.9)))


class ReplenishmentConflict(Conflict):
    code = "replenishment_conflict"


@dataclass(frozen=True)
class Suggestion:
    """How one line's quantity was reached (every figure in the product's unit)."""

    forecast_demand: Decimal
    safety_stock: Decimal
    on_hand: Decimal
    on_order: Decimal
    quantity: Decimal


def store_settings(store: Store) -> ForecastSettings:
    """The store's forecast settings, or the defaults (unsaved) without a row."""
    found = ForecastSettings.objects.filter(store=store).first()
    return found or ForecastSettings(store=store)


def safety_factor(service_level: Decimal) -> Decimal:
    """z for a service level: the normal quantile (0.95 -> 1.645)."""
    return Decimal(str(NormalDist().inv_cdf(float(service_level))))


def _cases(quantity: Decimal, case: Decimal, rounding: str) -> Decimal:
    return ((quantity / case).to_integral_value(rounding) * case).quantize(STEP)


def line_suggestion(
    *,
    days: list[tuple[Decimal, Decimal, Decimal]],
    z: Decimal,
    on_hand: Decimal,
    on_order: Decimal,
    case_size: Decimal,
    daily_fresh: bool,
    fresh_cap: str = FreshCap.UPPER,
) -> Suggestion:
    """The rule of the module docstring for one product.

    ``days``: (forecast, lower, upper) of each day of the cover period, the
    delivery day first.
    """
    demand = sum((q for q, _, _ in days), ZERO)
    variance = sum(
        (
            float((upper - lower) / (2 * Z_80_HALF_WIDTH)) ** 2
            for _, lower, upper in days
        ),
        0.0,
    )
    safety = (z * Decimal(str(math.sqrt(variance)))).quantize(STEP)
    safety = max(safety, ZERO)
    need = demand + safety - on_hand - on_order
    quantity = _cases(need, case_size, ROUND_CEILING) if need > 0 else ZERO
    if daily_fresh and days:
        forecast, _, upper = days[0]
        cap = upper if fresh_cap == FreshCap.UPPER else forecast
        if quantity > cap:
            quantity = _cases(cap, case_size, ROUND_FLOOR)
    return Suggestion(
        forecast_demand=demand.quantize(STEP),
        safety_stock=safety,
        on_hand=on_hand,
        on_order=on_order,
        quantity=max(quantity, ZERO),
    )


def _sellable_on_hand(
    store_products: list[StoreProduct], delivery_day: dt.date
) -> dict[int, Decimal]:
    perishable = [
        sp.pk
        for sp in store_products
        if sp.product.shelf_life_days is not None and not sp.product.is_daily_fresh
    ]
    fresh_lots = dict(
        StockLot.objects.filter(
            store_product_id__in=perishable,
            quantity_left__gt=0,
            best_before__gte=delivery_day,
        )
        .values("store_product")
        .annotate(left=Sum("quantity_left"))
        .values_list("store_product", "left")
    )
    sellable = {}
    for sp in store_products:
        if sp.product.is_daily_fresh:
            sellable[sp.pk] = ZERO
        elif sp.pk in perishable:
            sellable[sp.pk] = min(sp.on_hand, fresh_lots.get(sp.pk, ZERO))
        else:
            sellable[sp.pk] = sp.on_hand
    return sellable


def _on_order(store: Store, until: dt.date) -> dict[int, Decimal]:
    return dict(
        ReplenishmentLine.objects.filter(
            order__store=store,
            order__state=ReplenishmentState.APPROVED,
            order__delivery_day__lte=until,
        )
        .values("store_product")
        .annotate(total=Sum("quantity"))
        .values_list("store_product", "total")
    )


def replenishment_draft(
    *, store: Store, delivery_day: dt.date, run: ForecastRun | None = None
) -> list[ReplenishmentOrder]:
    """Draft one order per supplier for ``delivery_day`` (module docstring).

    Replaces the supplier's draft for that day if there is one (its lines are
    rewritten; a supplier with nothing to order loses its draft); an approved
    or received order for that supplier and day is left as it is. Locks the
    store's row (FOR NO KEY UPDATE) so that two drafts of a store run one
    after the other. Returns the drafts written.
    """
    config = store_settings(store)
    z = safety_factor(config.service_level)
    last_day = delivery_day + dt.timedelta(days=config.cover_days - 1)
    with transaction.atomic():
        Store.objects.select_for_update(no_key=True).filter(pk=store.pk).first()
        store_products = list(
            StoreProduct.objects.filter(
                store=store, is_active=True, product__supplier__isnull=False
            )
            .select_related("product")
            .order_by("pk")
        )
        forecasts: dict[int, list[tuple[Decimal, Decimal, Decimal]]] = defaultdict(list)
        for sp_id, quantity, lower, upper in (
            DemandForecast.objects.filter(
                store_product__in=[sp.pk for sp in store_products],
                day__gte=delivery_day,
                day__lte=last_day,
            )
            .order_by("store_product", "day")
            .values_list("store_product", "quantity", "lower", "upper")
        ):
            forecasts[sp_id].append((quantity, lower, upper))
        on_hand = _sellable_on_hand(store_products, delivery_day)
        on_order = _on_order(store, last_day)
        live = {
            order.supplier_id: order
            for order in ReplenishmentOrder.objects.select_for_update()
            .filter(store=store, delivery_day=delivery_day)
            .exclude(state=ReplenishmentState.CANCELLED)
        }
        lines: dict[int, list[ReplenishmentLine]] = defaultdict(list)
        for sp in store_products:
            days = forecasts.get(sp.pk)
            supplier_id = sp.product.supplier_id
            if not days or (
                supplier_id in live
                and live[supplier_id].state != ReplenishmentState.DRAFT
            ):
                continue
            suggestion = line_suggestion(
                days=days,
                z=z,
                on_hand=on_hand[sp.pk],
                on_order=on_order.get(sp.pk, ZERO),
                case_size=sp.product.case_size,
                daily_fresh=sp.product.is_daily_fresh,
                fresh_cap=config.fresh_cap,
            )
            if suggestion.quantity <= 0:
                continue
            lines[supplier_id].append(
                ReplenishmentLine(
                    store_product=sp,
                    forecast_demand=suggestion.forecast_demand,
                    safety_stock=suggestion.safety_stock,
                    on_hand=suggestion.on_hand,
                    on_order=suggestion.on_order,
                    suggested=suggestion.quantity,
                    quantity=suggestion.quantity,
                )
            )
        drafts = []
        for supplier_id, order in live.items():
            if order.state == ReplenishmentState.DRAFT and supplier_id not in lines:
                order.delete()
        for supplier_id, supplier_lines in sorted(lines.items()):
            order = live.get(supplier_id)
            if order is None:
                order = ReplenishmentOrder.objects.create(
                    store=store,
                    supplier_id=supplier_id,
                    delivery_day=delivery_day,
                    run=run,
                )
            else:
                order.lines.all().delete()
                order.run = run
                order.save(update_fields=["run", "updated_at"])
            for line in supplier_lines:
                line.order = order
            ReplenishmentLine.objects.bulk_create(supplier_lines)
            drafts.append(order)
    return drafts


def replenishment_line_set_quantity(
    *, line: ReplenishmentLine, quantity: Any
) -> ReplenishmentLine:
    """A manager's quantity for a line of a draft; refused once approved."""
    product = line.store_product.product
    value = parse_quantity(product=product, quantity=quantity, allow_zero=True)
    updated = ReplenishmentLine.objects.filter(
        pk=line.pk, order__state=ReplenishmentState.DRAFT
    ).update(quantity=value)
    if not updated:
        raise ReplenishmentConflict(
            "Only a draft's quantities can be changed.",
            {"field": "quantity", "line": line.pk},
        )
    line.quantity = value
    return line


def _transition(
    order: ReplenishmentOrder, source: str, target: str, **values: Any
) -> bool:
    changed = ReplenishmentOrder.objects.filter(pk=order.pk, state=source).update(
        state=target, updated_at=timezone.now(), **values
    )
    if changed:
        order.state = target
        for name, value in values.items():
            setattr(order, name, value)
    return bool(changed)


def replenishment_approve(
    *, order: ReplenishmentOrder, actor: Any
) -> ReplenishmentOrder:
    """Approve a draft: its quantities are final. Once only (a second click is
    refused, naming the state the order is in)."""
    with transaction.atomic():
        if not _transition(
            order,
            ReplenishmentState.DRAFT,
            ReplenishmentState.APPROVED,
            approved_by=actor,
            approved_at=timezone.now(),
        ):
            order.refresh_from_db(fields=["state"])
            raise ReplenishmentConflict(
                f"Order {order.pk} is {order.get_state_display().lower()}, "
                "not a draft: nothing to approve.",
                {"state": order.state},
            )
    return order


def replenishment_cancel(*, order: ReplenishmentOrder) -> ReplenishmentOrder:
    """Cancel a draft or an approved order that has not been received."""
    with transaction.atomic():
        for source in (ReplenishmentState.DRAFT, ReplenishmentState.APPROVED):
            if _transition(order, source, ReplenishmentState.CANCELLED):
                return order
    order.refresh_from_db(fields=["state"])
    raise ReplenishmentConflict(
        f"Order {order.pk} is {order.get_state_display().lower()}: "
        "it cannot be cancelled.",
        {"state": order.state},
    )


def replenishment_receive(
    *,
    order: ReplenishmentOrder,
    actor: Any,
    received: Mapping[int, Any] | None = None,
) -> ReplenishmentOrder:
    """The supplier's delivery arrived: every line goes on the shelf through
    ``stock_receive`` (lots with best-before dates from the shelf life).

    ``received`` maps line ids to what arrived (default: what was ordered; 0
    for a line that did not come). One transaction: the order moves from
    approved to received by a conditional UPDATE first, which holds its row
    until commit, so a second click waits and is then refused; each receipt
    also carries a request id of its own line. Store products are locked in
    primary-key order (``stock_receive``).
    """
    received = dict(received or {})
    lines = list(
        order.lines.select_related(
            "store_product__product", "store_product__store"
        ).order_by("store_product_id")
    )
    unknown = set(received) - {line.pk for line in lines}
    if unknown:
        raise InvalidInput(
            f"Lines {sorted(unknown)} are not lines of order {order.pk}.",
            {"field": "received"},
        )
    quantities = {
        line.pk: parse_quantity(
            product=line.store_product.product,
            quantity=received.get(line.pk, line.quantity),
            field=f"received[{line.pk}]",
            allow_zero=True,
        )
        for line in lines
    }
    with transaction.atomic():
        now = timezone.now()
        if not _transition(
            order,
            ReplenishmentState.APPROVED,
            ReplenishmentState.RECEIVED,
            received_at=now,
        ):
            order.refresh_from_db(fields=["state"])
            raise ReplenishmentConflict(
                f"Order {order.pk} is {order.get_state_display().lower()}: "
                "only an approved order is received.",
                {"state": order.state},
            )
        for line in lines:
            quantity = quantities[line.pk]
            if quantity > 0:
                stock_receive(
                    store_product=line.store_product,
                    quantity=quantity,
                    actor=actor,
                    reference=f"replenishment {order.pk}",
                    received_at=now,
                    request_id=f"replenishment-{order.pk}-{line.pk}",
                )
            line.received = quantity
        ReplenishmentLine.objects.bulk_update(lines, ["received"])
    return order


__all__ = [
    "ReplenishmentConflict",
    "Suggestion",
    "line_suggestion",
    "replenishment_approve",
    "replenishment_cancel",
    "replenishment_draft",
    "replenishment_line_set_quantity",
    "replenishment_receive",
    "safety_factor",
    "store_settings",
]
