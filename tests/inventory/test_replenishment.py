"""Replenishment drafts from the forecast, and the managers' admin screens."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from inventory.forecast.models import (
    DemandForecast,
    ForecastMethod,
    ForecastRun,
    ForecastSettings,
    ReplenishmentLine,
    ReplenishmentOrder,
    ReplenishmentState,
    RunKind,
)
from inventory.models import (
    MovementKind,
    StockLot,
    StockMovement,
    StoreProduct,
    Supplier,
)
from inventory.replenishment import (
    ReplenishmentConflict,
    replenishment_approve,
    replenishment_draft,
    replenishment_receive,
)
from inventory.services import stock_receive
from tests.conftest import requires_postgres
from tests.factories import (
    ProductFactory,
    StoreFactory,
    StoreProductFactory,
    StoreStaffFactory,
    UserFactory,
)

D = Decimal
ADMIN = "/admin/inventory/replenishmentorder"


def tomorrow(store) -> dt.date:
    return timezone.localtime(timezone.now(), store.tz).date() + dt.timedelta(days=1)


def forecast(sp, day, rows):
    """``rows``: (quantity, lower, upper) for ``day`` and the days after."""
    run = ForecastRun.objects.create(
        store=sp.store, kind=RunKind.PREDICT, origin=day, started_at=timezone.now()
    )
    for offset, (quantity, lower, upper) in enumerate(rows):
        DemandForecast.objects.create(
            store_product=sp,
            day=day + dt.timedelta(days=offset),
            quantity=D(quantity),
            lower=D(lower),
            upper=D(upper),
            method=ForecastMethod.ETS,
            run=run,
            made_on=day,
        )


@pytest.fixture
def suppliers():
    return Supplier.objects.create(name="Orchard"), Supplier.objects.create(
        name="Dairy"
    )


@pytest.fixture
def catalogue(store, suppliers):
    """The hand-computed example (cover 2 days, 95% service level: z = 1.645).

    A: case 12; forecast 10 [8, 12] and 14 [11, 17]: sigma 4/2.563 and
       6/2.563, safety 1.645 x 2.813 = 4.628; on hand 5, on order 6 (an
       approved order for yesterday not yet received):
       24 + 4.628 - 5 - 6 = 17.628 -> 2 cases = 24.
    B: daily fresh, case 6; forecast 9 [7, 11] twice: safety 3.630; its 4 on
       hand are tonight's leftovers (not counted): 18 + 3.63 = 21.63 -> 24,
       capped at tomorrow's forecast 9 -> whole cases below it: 6.
    C: shelf life 3 days, case 10; forecast 2 [2, 2] twice: no safety; 10 on
       hand that keep until after the delivery: nothing to order (left out).
    D: case 1, forecast 5 [5, 5] twice, nothing on hand: 10.
    E: no forecast; F: no supplier: neither is drafted.
    """
    orchard, dairy = suppliers
    ForecastSettings.objects.create(store=store, cover_days=2, service_level=D("0.950"))
    day = tomorrow(store)
    sps = {
        "A": StoreProductFactory(
            store=store,
            product=ProductFactory(sku="A", supplier=orchard, case_size=D(12)),
        ),
        "B": StoreProductFactory(
            store=store,
            product=ProductFactory(
                sku="B",
                supplier=orchard,
                case_size=D(6),
                is_daily_fresh=True,
                shelf_life_days=1,
            ),
        ),
        "C": StoreProductFactory(
            store=store,
            product=ProductFactory(
                sku="C", supplier=dairy, case_size=D(10), shelf_life_days=3
            ),
        ),
        "D": StoreProductFactory(
            store=store, product=ProductFactory(sku="D", supplier=dairy)
        ),
        "E": StoreProductFactory(
            store=store, product=ProductFactory(sku="E", supplier=dairy)
        ),
        "F": StoreProductFactory(store=store, product=ProductFactory(sku="F")),
    }
    stock_receive(store_product=sps["A"], quantity=5)
    stock_receive(store_product=sps["B"], quantity=4)
    stock_receive(store_product=sps["C"], quantity=10)
    forecast(sps["A"], day, [(10, 8, 12), (14, 11, 17)])
    forecast(sps["B"], day, [(9, 7, 11), (9, 7, 11)])
    forecast(sps["C"], day, [(2, 2, 2), (2, 2, 2)])
    forecast(sps["D"], day, [(5, 5, 5), (5, 5, 5)])
    forecast(sps["F"], day, [(5, 5, 5), (5, 5, 5)])
    overdue = ReplenishmentOrder.objects.create(
        store=store,
        supplier=orchard,
        delivery_day=day - dt.timedelta(days=1),
        state=ReplenishmentState.APPROVED,
    )
    ReplenishmentLine.objects.create(
        order=overdue,
        store_product=sps["A"],
        forecast_demand=D(6),
        safety_stock=D(0),
        on_hand=D(0),
        on_order=D(0),
        suggested=D(6),
        quantity=D(6),
    )
    return sps


def drafted(store, day) -> dict[str, dict[str, tuple]]:
    return {
        order.supplier.name: {
            line.store_product.product.sku: (
                line.forecast_demand,
                line.safety_stock,
                line.on_hand,
                line.on_order,
                line.suggested,
                line.quantity,
            )
            for line in order.lines.select_related("store_product__product")
        }
        for order in ReplenishmentOrder.objects.filter(
            store=store, delivery_day=day
        ).exclude(state=ReplenishmentState.CANCELLED)
    }


EXPECTED = {
    "Orchard": {
        "A": (D(24), D("4.628"), D(5), D(6), D(24), D(24)),
        "B": (D(18), D("3.630"), D(0), D(0), D(6), D(6)),
    },
    "Dairy": {"D": (D(10), D(0), D(0), D(0), D(10), D(10))},
}


@pytest.mark.django_db
def test_the_draft_follows_the_hand_computed_example(store, catalogue):
    day = tomorrow(store)
    orders = replenishment_draft(store=store, delivery_day=day)
    assert len(orders) == 2
    assert drafted(store, day) == EXPECTED


@pytest.mark.django_db
def test_a_second_draft_replaces_the_first_and_spares_an_approved_order(
    store, catalogue, suppliers
):
    day = tomorrow(store)
    first = {
        o.supplier.name: o for o in replenishment_draft(store=store, delivery_day=day)
    }
    replenishment_approve(order=first["Orchard"], actor=None)
    ReplenishmentLine.objects.filter(
        order=first["Orchard"], store_product=catalogue["A"]
    ).update(quantity=D(36))
    # D is on the shelf now: the dairy draft shrinks to nothing and goes.
    stock_receive(store_product=catalogue["D"], quantity=20)

    again = replenishment_draft(store=store, delivery_day=day)

    assert again == []
    orders = ReplenishmentOrder.objects.filter(store=store, delivery_day=day)
    assert [(o.supplier.name, o.state) for o in orders] == [("Orchard", "approved")]
    assert drafted(store, day)["Orchard"]["A"][-1] == D(36)


@pytest.mark.django_db
def test_running_twice_keeps_one_live_draft_per_supplier(store, catalogue):
    day = tomorrow(store)
    replenishment_draft(store=store, delivery_day=day)
    replenishment_draft(store=store, delivery_day=day)
    assert ReplenishmentOrder.objects.filter(store=store, delivery_day=day).count() == 2
    assert drafted(store, day) == EXPECTED


@pytest.mark.django_db
def test_a_store_may_let_daily_fresh_go_to_the_forecasts_upper_bound(store, catalogue):
    ForecastSettings.objects.filter(store=store).update(fresh_cap="upper")
    day = tomorrow(store)
    replenishment_draft(store=store, delivery_day=day)
    # B needs 21.63 -> 24; capped at tomorrow's upper bound 11 -> whole cases
    # of 6 below it: still 6. With cases of one it would be 11.
    assert drafted(store, day)["Orchard"]["B"][-1] == D(6)
    catalogue["B"].product.__class__.objects.filter(
        pk=catalogue["B"].product_id
    ).update(case_size=D(1))
    replenishment_draft(store=store, delivery_day=day)
    assert drafted(store, day)["Orchard"]["B"][-2:] == (D(11), D(11))
    ForecastSettings.objects.filter(store=store).update(fresh_cap="forecast")
    replenishment_draft(store=store, delivery_day=day)
    assert drafted(store, day)["Orchard"]["B"][-2:] == (D(9), D(9))


@pytest.mark.django_db
def test_a_store_without_settings_uses_the_defaults(store, catalogue):
    ForecastSettings.objects.filter(store=store).delete()
    day = tomorrow(store)
    replenishment_draft(store=store, delivery_day=day)
    # One day of cover: A needs 10 + 1.645 x 1.561 = 12.567 - 5 - 6 -> 12.
    assert drafted(store, day)["Orchard"]["A"][:2] == (D(10), D("2.567"))
    assert drafted(store, day)["Orchard"]["A"][-1] == D(12)


# --- The admin -------------------------------------------------------------------


@pytest.fixture
def manager(store):
    user = UserFactory(email="manager@hema.test", is_staff=True)
    StoreStaffFactory(user=user, store=store, role="manager")
    return user


def line_form(response) -> dict[str, str]:
    """The change form's POST as the page sends it (every line's quantity)."""
    [formset] = response.context["inline_admin_formsets"]
    management = formset.formset.management_form
    data = {
        f"{management.prefix}-{name}": str(management[name].value() or "")
        for name in management.fields
    }
    for form in formset.formset.forms:
        data[f"{form.prefix}-id"] = str(form.instance.pk)
        data[f"{form.prefix}-order"] = str(form.instance.order_id)
        data[f"{form.prefix}-quantity"] = str(form.instance.quantity)
    return data


@pytest.mark.django_db
def test_a_manager_edits_approves_and_receives_once(client, store, catalogue, manager):
    day = tomorrow(store)
    orchard = {
        o.supplier.name: o for o in replenishment_draft(store=store, delivery_day=day)
    }["Orchard"]
    client.force_login(manager)
    page = client.get(f"{ADMIN}/{orchard.pk}/change/")
    assert page.status_code == 200
    assert b"Approve" in page.content

    form = line_form(page)
    prefix = next(
        key[: -len("-id")]
        for key, value in form.items()
        if key.endswith("-id")
        and value
        == str(
            ReplenishmentLine.objects.get(
                order=orchard, store_product=catalogue["A"]
            ).pk
        )
    )
    form[f"{prefix}-quantity"] = "36"
    assert client.post(f"{ADMIN}/{orchard.pk}/change/", form).status_code == 302
    assert drafted(store, day)["Orchard"]["A"][-1] == D(36)
    # Half an apple is refused on the form, nothing changes.
    form[f"{prefix}-quantity"] = "36.5"
    refused = client.post(f"{ADMIN}/{orchard.pk}/change/", form)
    assert refused.status_code == 200
    assert "whole number" in refused.content.decode()
    assert drafted(store, day)["Orchard"]["A"][-1] == D(36)

    assert client.post(f"{ADMIN}/{orchard.pk}/approve/").status_code == 302
    orchard.refresh_from_db()
    assert (orchard.state, orchard.approved_by) == ("approved", manager)
    # Approved: the page is read-only and a posted edit is refused.
    form[f"{prefix}-quantity"] = "48"
    assert client.post(f"{ADMIN}/{orchard.pk}/change/", form).status_code == 403
    assert drafted(store, day)["Orchard"]["A"][-1] == D(36)

    lines = {
        line.store_product.product.sku: line
        for line in orchard.lines.select_related("store_product__product")
    }
    assert client.get(f"{ADMIN}/{orchard.pk}/receive/").status_code == 200
    received = {f"line_{lines['A'].pk}": "30", f"line_{lines['B'].pk}": "6"}
    before = StockMovement.objects.count()
    assert client.post(f"{ADMIN}/{orchard.pk}/receive/", received).status_code == 302
    assert client.post(f"{ADMIN}/{orchard.pk}/receive/", received).status_code == 302

    orchard.refresh_from_db()
    assert orchard.state == "received"
    assert StockMovement.objects.count() == before + 2
    on_hand = dict(
        StoreProduct.objects.filter(
            pk__in=[catalogue["A"].pk, catalogue["B"].pk]
        ).values_list("product__sku", "on_hand")
    )
    assert on_hand == {"A": D(35), "B": D(10)}
    assert {
        line.store_product.product.sku: line.received
        for line in orchard.lines.select_related("store_product__product")
    } == {"A": D(30), "B": D(6)}
    # B keeps one day: its lot is best before tomorrow's local date.
    lot = StockLot.objects.filter(store_product=catalogue["B"]).latest("pk")
    assert (lot.quantity_received, lot.best_before) == (D(6), day)
    assert set(
        StockMovement.objects.filter(
            reference=f"replenishment {orchard.pk}"
        ).values_list("kind", flat=True)
    ) == {MovementKind.RECEIVE}


@pytest.mark.django_db
def test_another_stores_manager_cannot_see_or_act(client, store, catalogue):
    day = tomorrow(store)
    [order, *_] = replenishment_draft(store=store, delivery_day=day)
    elsewhere = StoreFactory(code="SH02")
    outsider = UserFactory(email="pudong@hema.test", is_staff=True)
    StoreStaffFactory(user=outsider, store=elsewhere, role="manager")
    client.force_login(outsider)

    listing = client.get(f"{ADMIN}/")
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == []
    assert client.get(f"{ADMIN}/{order.pk}/change/").status_code == 403
    assert client.post(f"{ADMIN}/{order.pk}/approve/").status_code == 403
    order.refresh_from_db()
    assert order.state == ReplenishmentState.DRAFT


@pytest.mark.django_db
def test_receiving_a_draft_or_twice_is_refused(store, catalogue):
    day = tomorrow(store)
    [order, *_] = replenishment_draft(store=store, delivery_day=day)
    with pytest.raises(ReplenishmentConflict, match="only an approved order"):
        replenishment_receive(order=order, actor=None)
    replenishment_approve(order=order, actor=None)
    with pytest.raises(ReplenishmentConflict, match="not a draft"):
        replenishment_approve(order=order, actor=None)
    replenishment_receive(order=order, actor=None)
    on_hand = list(
        StoreProduct.objects.order_by("pk").values_list("on_hand", flat=True)
    )
    with pytest.raises(ReplenishmentConflict, match="received"):
        replenishment_receive(order=order, actor=None)
    assert (
        list(StoreProduct.objects.order_by("pk").values_list("on_hand", flat=True))
        == on_hand
    )


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_receive_clicks_at_once_receive_once(store, catalogue):
    day = tomorrow(store)
    [order, *_] = replenishment_draft(store=store, delivery_day=day)
    replenishment_approve(order=order, actor=None)
    a = catalogue["A"]
    a.refresh_from_db()
    before = a.on_hand
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click():
        try:
            barrier.wait(timeout=30)
            replenishment_receive(
                order=ReplenishmentOrder.objects.get(pk=order.pk), actor=None
            )
            outcomes.append("received")
        except ReplenishmentConflict:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["received", "refused"]
    a.refresh_from_db()
    assert a.on_hand == before + D(24)
