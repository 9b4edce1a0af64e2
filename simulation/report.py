"""The simulated days as a store manager reads them: one HTML page with PNG
charts (matplotlib, Agg backend: no display needed) and ``figures.json`` with
every figure, per day and for the run, in one folder."""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any


def _charts(result: Any, folder: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = result.figures
    charts: list[tuple[str, str]] = []

    def save(fig: Any, name: str, caption: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=90)
        plt.close(fig)
        charts.append((name, caption))

    hours = range(24)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for day in figures["days"]:
        for channel, style in (("in_store", "-"), ("app", "--")):
            cells = day["sales"]["by_hour"].get(channel, {})
            axes[0].plot(
                list(hours),
                [float(cells.get(str(h), {}).get("revenue", 0)) for h in hours],
                style,
                label=f"{day['day']} {channel}",
            )
            axes[1].plot(
                list(hours),
                [cells.get(str(h), {}).get("orders", 0) for h in hours],
                style,
                label=f"{day['day']} {channel}",
            )
    axes[0].set_title("Revenue by hour and channel")
    axes[1].set_title("Orders by hour and channel")
    for ax in axes:
        ax.set_xlabel("local hour")
        ax.legend(fontsize=7)
    save(fig, "sales_by_hour.png", "Revenue and orders by hour, in store and app.")

    # "Tue" over "01": a week of ISO dates overlaps under the bars.
    labels = [
        dt.date.fromisoformat(d["day"]).strftime("%a\n%d") for d in figures["days"]
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].bar(
        labels, [d["delivery"]["express_kept_rate"] or 0 for d in figures["days"]]
    )
    axes[0].set_ylim(0, 1.05)
    axes[0].set_title("Express promises kept")
    width = 0.35
    xs = range(len(labels))
    axes[1].bar(
        [x - width / 2 for x in xs],
        [d["delivery"]["paid_to_rail_minutes"]["median"] for d in figures["days"]],
        width,
        label="paid to rail",
    )
    axes[1].bar(
        [x + width / 2 for x in xs],
        [d["delivery"]["paid_to_packed_minutes"]["median"] for d in figures["days"]],
        width,
        label="paid to packed",
    )
    axes[1].axhline(10, color="red", linewidth=0.8)
    axes[1].set_xticks(list(xs), labels)
    axes[1].set_title("Median minutes (target 10 to rail)")
    axes[1].legend(fontsize=7)
    axes[2].bar(
        labels, [d["delivery"]["lateness_minutes"]["p90"] for d in figures["days"]]
    )
    axes[2].set_title("Lateness, 90th percentile (min)")
    axes[2].set_ylim(bottom=0)  # none late: an axis from 0, not around it
    save(fig, "delivery.png", "Promises kept, floor times and lateness by day.")

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].bar(labels, [d["stock"]["waste_rate"] or 0 for d in figures["days"]])
    axes[0].set_title("Waste: daily-fresh written off / on shelf")
    axes[1].bar(labels, [d["stock"]["stockout_rate"] or 0 for d in figures["days"]])
    axes[1].set_title("Stock-outs: product-days short at full price")
    axes[2].bar(labels, [d["forecast_accuracy"]["wape"] or 0 for d in figures["days"]])
    axes[2].set_title("Forecast WAPE (0 = none or perfect)")
    save(fig, "stock.png", "Waste, stock-outs and forecast accuracy by day.")

    reasons = figures["total"]["price_changes"]["by_reason"]
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(3, len(reasons)) + 1))
    ax.barh(list(reasons) or ["none"], list(reasons.values()) or [0])
    ax.set_title("Price changes by reason (whole run)")
    save(fig, "price_changes.png", "Price changes by reason.")
    return charts


def _rows(day: dict[str, Any]) -> list[tuple[str, str]]:
    s, dlv, st = day["sales"], day["delivery"], day["stock"]
    rev, short = s["revenue"], day["shorted_by_till"]

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{v:.1%}"

    return [
        (
            "Revenue (in store / app / total)",
            f"{rev['in_store']} / {rev['app']} / {rev['total']}",
        ),
        (
            "Orders (in store / app)",
            f"{s['orders']['in_store']} / {s['orders']['app']}",
        ),
        ("Online share of revenue", pct(s["online_share"])),
        (
            "Express promises kept",
            f"{dlv['express_kept']} of {dlv['express']} "
            f"({pct(dlv['express_kept_rate'])})",
        ),
        ("On time (of delivered)", pct(dlv["on_time_rate"])),
        (
            "Lateness p50 / p90 / p95 (min)",
            " / ".join(str(dlv["lateness_minutes"][k]) for k in ("p50", "p90", "p95")),
        ),
        ("Riders used", str(dlv["riders_used"])),
        (
            "Paid to rail, median / p90 (min)",
            f"{dlv['paid_to_rail_minutes']['median']}"
            f" / {dlv['paid_to_rail_minutes']['p90']}",
        ),
        (
            "Paid to packed, median / p90 (min)",
            f"{dlv['paid_to_packed_minutes']['median']}"
            f" / {dlv['paid_to_packed_minutes']['p90']}",
        ),
        (
            "Paid app orders shorted by till sales",
            f"{short['shorted']} of {short['paid_app_orders']}"
            f" ({pct(short['shorted_rate'])})",
        ),
        (
            "Waste (daily-fresh units written off / on shelf)",
            f"{st['daily_fresh_written_off']} / {st['daily_fresh_units']}"
            f" ({pct(st['waste_rate'])})",
        ),
        (
            "Stock-outs: product-days a shopper found empty at full price",
            f"{st['product_days_short']} of "
            f"{st['product_days']} ({pct(st['stockout_rate'])}); "
            f"{st['product_days_short_daily_fresh']} of them daily fresh",
        ),
        (
            "Product-days a shopper found empty at any hour",
            str(st["product_days_short_any_time"]),
        ),
        (
            "Product-days sold out at closing",
            f"{st['product_days_sold_out']} of "
            f"{st['product_days']} ({pct(st['sold_out_at_close_rate'])})",
        ),
        (
            "Shoppers' stock-outs (in store / app)",
            f"{st['shopper_stockouts']['in_store']} / {st['shopper_stockouts']['app']}",
        ),
        (
            "Lines left for the price (in store / app)",
            f"{st['price_walks']['in_store']} / {st['price_walks']['app']}",
        ),
        (
            "App orders refused (no promise / at checkout)",
            f"{st['app_refused_no_promise']} / {st['app_checkout_refused']}",
        ),
        ("In-store purchases delivered home", str(st["in_store_delivered_home"])),
        ("Markdown revenue recovered", day["markdown_revenue"]),
        (
            "Price changes by kind",
            ", ".join(f"{k} {v}" for k, v in day["price_changes"]["by_kind"].items())
            or "none",
        ),
    ]


def _table(title: str, rows: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
    )
    return f"<h2>{html.escape(title)}</h2><table>{body}</table>"


def _jobs(jobs: list[tuple[str, Any]]) -> dict[str, Any]:
    """How often each job ran, and when (the per-minute expiry: only counted)."""
    out: dict[str, Any] = {}
    for kind, at in jobs:
        entry = out.setdefault(kind, {"count": 0, "at": []})
        entry["count"] += 1
        if kind != "expire":
            entry["at"].append(at.isoformat())
    return out


def report_write(*, result: Any, folder: Path, wall_seconds: float) -> Path:
    """Write ``figures.json``, the charts and ``index.html``; returns the page."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "scenario": result.scenario.name,
        "scenario_file": result.scenario.path,
        "store": result.store_code,
        "seed": result.seed,
        "days": [d.isoformat() for d in result.days],
        "wall_seconds": round(wall_seconds, 1),
        "jobs": _jobs(result.jobs),
        **result.figures,
    }
    (folder / "figures.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    charts = _charts(result, folder)
    sections = [
        _table(
            "Whole run", _rows({**result.figures["total"], "forecast_accuracy": None})
        )
    ]
    for day in result.figures["days"]:
        rows = _rows(day)
        wape = day["forecast_accuracy"]["wape"]
        rows.append(
            ("Forecast accuracy (WAPE)", "n/a" if wape is None else f"{wape:.1%}")
        )
        rows.append(("Night: forecast", day["forecast"]))
        rows.append(("Night: replenishment approved", json.dumps(day["replenishment"])))
        sections.append(_table(f"Day {day['day']}", rows))
    images = "".join(
        f'<figure><img src="{name}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in charts
    )
    page = folder / "index.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Simulated store: {html.escape(result.scenario.name)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left}img{max-width:100%}</style></head><body>"
        f"<h1>{html.escape(result.scenario.name)}: store {result.store_code}</h1>"
        f"<p>{len(result.days)} day(s) from {result.days[0]}, seed {result.seed}, "
        f"wall time {wall_seconds:.0f} s. Every figure is in "
        "<a href='figures.json'>figures.json</a>.</p>"
        + sections[0]
        + images
        + "".join(sections[1:])
        + "</body></html>",
        encoding="utf-8",
    )
    return page
