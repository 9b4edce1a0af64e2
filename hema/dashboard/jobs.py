"""The last run of each periodic job of the store: when it started, how long
it took, its state and any failure.

One query per job table, each the newest row of the store through that table's
``(store, …, started_at)`` index.
"""

from __future__ import annotations

from delivery.models import DispatchRun
from hema.dashboard.window import DayWindow
from inventory.forecast.models import ForecastRun
from inventory.models import ReconcileRun
from pricing.models import RepricingRun


def _seconds(started, finished) -> float | None:
    return None if finished is None else round((finished - started).total_seconds(), 1)


def _forecast_failure(run: ForecastRun) -> str:
    if run.state == "failed":
        return str(run.detail.get("error", "the run failed"))
    return f"{run.failures} of {run.series} series failed" if run.failures else ""


def last_runs(*, window: DayWindow) -> list[dict]:
    """One entry per job: its name, the admin list it links to and its last
    run (None when it never ran here)."""
    store = window.store
    forecast = (
        ForecastRun.objects.filter(store=store).order_by("-started_at", "-pk").first()
    )
    repricing = (
        RepricingRun.objects.filter(store=store).order_by("-started_at", "-pk").first()
    )
    reconcile = (
        ReconcileRun.objects.filter(store=store).order_by("-started_at", "-pk").first()
    )
    dispatch = (
        DispatchRun.objects.filter(store=store).order_by("-started_at", "-pk").first()
    )
    runs = []
    if forecast is not None:
        runs.append(
            {
                "job": f"Forecast ({forecast.get_kind_display().lower()})",
                "admin": "admin:inventory_forecastrun_changelist",
                "state": forecast.state,
                "started_at": window.local(forecast.started_at),
                "seconds": _seconds(forecast.started_at, forecast.finished_at),
                "failure": _forecast_failure(forecast),
            }
        )
    if repricing is not None:
        runs.append(
            {
                "job": "Repricing",
                "admin": "admin:pricing_repricingrun_changelist",
                "state": repricing.state,
                "started_at": window.local(repricing.started_at),
                "seconds": _seconds(repricing.started_at, repricing.finished_at),
                "failure": repricing.error or repricing.weather_error,
            }
        )
    if reconcile is not None:
        runs.append(
            {
                "job": "Stock reconcile",
                "admin": "admin:inventory_reconcilerun_changelist",
                "state": reconcile.state,
                "started_at": window.local(reconcile.started_at),
                "seconds": _seconds(reconcile.started_at, reconcile.finished_at),
                "failure": reconcile.error,
            }
        )
    if dispatch is not None:
        runs.append(
            {
                "job": "Dispatch",
                "admin": "admin:delivery_dispatchrun_changelist",
                "state": "done" if dispatch.finished_at else "running",
                "started_at": window.local(dispatch.started_at),
                "seconds": _seconds(dispatch.started_at, dispatch.finished_at),
                "failure": "",
            }
        )
    return runs
