"""The order's timeline: one ``OrderEvent`` per state change, refund or shortage."""

from __future__ import annotations

from typing import Any

from orders.models import Order, OrderEvent

NOTE_MAX = OrderEvent._meta.get_field("note").max_length


def clip(text: str, limit: int) -> str:
    """Text cut to a column's length: a note or reason built from a reason the
    API accepts in full (255 characters) plus a prefix must still fit."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def order_event_record(
    order: Order, from_state: str, to_state: str, actor: Any, note: str
) -> OrderEvent:
    """Add a line to the order's timeline (the note clipped to fit)."""
    return OrderEvent.objects.create(
        order=order,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        note=clip(note, NOTE_MAX),
    )
