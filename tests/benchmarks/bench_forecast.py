"""The demand forecast's nightly predict and weekly refit, per series.

The demo catalogue (``seed_demo``: 360 products in store SH01) gets two years
of demo history (``seed_demo_history``); then, through the services the Celery
chunks run (``forecast_refit_chunk``, ``forecast_predict_chunk``), in chunks
of ``CHUNK`` products, with the database writes included:

* the weekly refit of every series (the method rule with its holdout fits,
  then the chosen fit), once;
* the nightly predict of every series from the stored models, ``REPEATS``
  times.

Reported: milliseconds per series (the median over chunks), the methods
chosen, and the projected wall time for 6,000 series on 2 worker processes
(6,000 x ms per series / 2). Aims: predict 40 ms per series (6,000 in 2
minutes), refit 6,000 in 15 minutes.

Registered as ``forecast``: ``make bench BENCH=forecast``.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

from tests.benchmarks.registry import BenchContext, BenchResult, Row, register

CHUNK = 20
REPEATS = 3
PROJECTED_SERIES = 6_000
PROCESSES = 2
PREDICT_AIM_MS = 40.0
REFIT_AIM_MINUTES = 15.0


def _chunks(kind: str, store, origin: dt.date) -> tuple[list[float], Any]:
    from inventory.forecast import service

    start = (
        service.forecast_refit_start
        if kind == "refit"
        else service.forecast_predict_start
    )
    work = (
        service.forecast_refit_chunk
        if kind == "refit"
        else service.forecast_predict_chunk
    )
    run, chunks = start(store=store, origin=origin, chunk_size=CHUNK)
    attempt = run.detail["attempt"]
    per_series = []
    for index, ids in enumerate(chunks):
        started = time.perf_counter()
        outcome = work(run=run, attempt=attempt, index=index, store_product_ids=ids)
        seconds = time.perf_counter() - started
        if outcome.series:
            per_series.append(seconds * 1000 / outcome.series)
    run.refresh_from_db()
    return per_series, run


def measure() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from django.core.management import call_command

    from inventory.forecast.demo_history import demo_history_generate
    from inventory.forecast.series import store_today
    from inventory.models import Store

    call_command("seed_demo", verbosity=0)
    store = Store.objects.get(code="SH01")
    started = time.perf_counter()
    history = demo_history_generate(store=store, days=730, seed=1)
    history_seconds = time.perf_counter() - started
    origin = store_today(store)

    refit_ms, refit_run = _chunks("refit", store, origin)
    predict_samples = []
    predict_run = None
    for _ in range(REPEATS):
        ms, predict_run = _chunks("predict", store, origin)
        predict_samples.append(ms)
    predict_ms = [statistics.median(ms) for ms in predict_samples]

    refit_median = statistics.median(refit_ms)
    predict_median = statistics.median(predict_ms)
    series = refit_run.series
    refit_projection = PROJECTED_SERIES * refit_median / 1000 / PROCESSES / 60
    predict_projection = PROJECTED_SERIES * predict_median / 1000 / PROCESSES
    methods = refit_run.detail["methods"]
    mix = ", ".join(f"{m} {n}" for m, n in sorted(methods.items()))
    rows = [
        {
            "measure": "demo history (SH01, 730 days)",
            "value": f"{history_seconds:.1f}",
            "unit": "s",
            "note": f"{history.sales_rows} rows",
        },
        {
            "measure": "weekly refit per series",
            "value": f"{refit_median:.0f}",
            "unit": "ms",
            "note": f"median of {len(refit_ms)} chunks of {CHUNK}; "
            f"{series} series; {mix}",
        },
        {
            "measure": "weekly refit, 6,000 series on 2 processes",
            "value": f"{refit_projection:.1f}",
            "unit": "min",
            "note": f"aim {REFIT_AIM_MINUTES:.0f} min",
        },
        {
            "measure": "nightly predict per series",
            "value": f"{predict_median:.1f}",
            "unit": "ms",
            "note": f"median of {REPEATS} runs; aim {PREDICT_AIM_MS:.0f} ms",
        },
        {
            "measure": "nightly predict, 6,000 series on 2 processes",
            "value": f"{predict_projection:.0f}",
            "unit": "s",
            "note": "aim 120 s",
        },
        {
            "measure": "fallbacks / failures (refit, predict)",
            "value": f"{refit_run.fallbacks}/{refit_run.failures}, "
            f"{predict_run.fallbacks}/{predict_run.failures}",
            "unit": "series",
        },
    ]
    data = {
        "series": series,
        "chunk": CHUNK,
        "methods": methods,
        "refit_ms_per_series_median": refit_median,
        "refit_ms_per_series_chunks": refit_ms,
        "refit_run_seconds": refit_run.seconds,
        "predict_ms_per_series_median": predict_median,
        "predict_ms_per_series_runs": predict_ms,
        "predict_run_seconds": predict_run.seconds,
        "projection_series": PROJECTED_SERIES,
        "projection_processes": PROCESSES,
        "refit_projected_minutes": refit_projection,
        "predict_projected_seconds": predict_projection,
        "demo_history_seconds": history_seconds,
    }
    return rows, data


@register("forecast")
def bench_forecast(context: BenchContext) -> BenchResult:
    rows, data = measure()
    return BenchResult(rows=[Row(**row) for row in rows], data=data)
