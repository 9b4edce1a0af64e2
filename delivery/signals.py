"""Signals the delivery app sends upward (it never imports orders).

Each is sent inside the delivery transaction that caused it, so a listener that
fails rolls the cause back (a pick, a packing) with it. Listeners: the orders
app (``orders/fulfilment_handlers.py``), which moves the order along its path and
writes any refund as a pending ``Refund`` row (the outbox).

* ``line_picked(sender, line, quantity, actor)``: a ``FulfilmentLine`` left the
  shelf; ``quantity`` is what was picked (a weighed line's weight).
* ``line_short(sender, line, actor)``: the picker found the shelf short; the
  line's reservation was released as short.
* ``packed(sender, fulfilment, actor)``: every bag arrived and was packed (or,
  for an in-store purchase sent home, packed at the counter).
* ``ready(sender, fulfilment, code, actor)``: a pickup order waits at the counter;
  ``code`` is what the shopper shows to collect it.
* ``collected(sender, fulfilment, actor)``: the counter checked the code.
* ``out_for_delivery(sender, fulfilment, actor)``, ``delivered(sender,
  fulfilment, actor)``, ``delivery_failed(sender, fulfilment, reason, outcome,
  actor)``: the rider's steps (``delivery/riders.py``). ``outcome`` is the
  store's setting: ``refund`` (the fulfilment is closed as failed) or
  ``redeliver`` (it is packed again and waits for another trip).
"""

from django.dispatch import Signal

line_picked = Signal()
line_short = Signal()
packed = Signal()
ready = Signal()
collected = Signal()
out_for_delivery = Signal()
delivered = Signal()
delivery_failed = Signal()
