"""Routing: which rider takes which orders in which order.

The dispatcher builds a ``Problem`` (plain numbers, no models) and calls
``solve``; the solver behind it (PyVRP, with a greedy fallback) can be replaced
without touching the dispatcher.
"""
