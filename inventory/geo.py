"""Distances on the earth's surface: coverage and routing both start here."""

import math
from decimal import Decimal

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle (haversine) distance; within a city its error is metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    a = (
        math.sin(dphi / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def distance_km_decimal(lat1, lng1, lat2, lng2) -> Decimal:
    """The same, rounded to metres, for API answers."""
    km = distance_km(float(lat1), float(lng1), float(lat2), float(lng2))
    return Decimal(str(round(km, 3)))
