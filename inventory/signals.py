"""Signals the inventory app sends upward (it never imports a higher app).

``reservation_short(sender, reservation)``: a held reservation no longer fits the
shelf (an in-store sale or a recount took its units, or the picker found the shelf
empty). Sent inside the transaction that flagged it. Listeners: the orders app's
shortage handler (substitute or refund the line), once orders exists.
"""

from django.dispatch import Signal

reservation_short = Signal()
