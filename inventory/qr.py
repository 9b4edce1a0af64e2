"""Shelf QR codes: a stable URL per store product, rendered as PNG or SVG.

The code encodes ``<HEMA_QR_BASE_URL>/q/<store>/<sku>``. Parsing ignores the host,
so labels printed before a domain change still scan.
"""

import io
import re

import qrcode
import qrcode.image.svg
from django.conf import settings

from inventory.errors import InvalidScanCode

_QR_PATH = re.compile(
    r"(?:^|/)q/(?P<store>[A-Za-z0-9][A-Za-z0-9_-]{0,15})/"
    r"(?P<sku>[A-Za-z0-9][A-Za-z0-9._-]{0,63})/?$"
)
_BARE_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_CODE_LENGTH = 512


def qr_payload(*, store_code: str, sku: str) -> str:
    base = settings.HEMA_QR_BASE_URL.rstrip("/")
    return f"{base}/q/{store_code}/{sku}"


def parse_scan_code(code: str) -> tuple[str | None, str]:
    """Return ``(store_code or None, sku)`` from a QR payload or a bare SKU."""
    code = (code or "").strip()
    if not code or len(code) > MAX_CODE_LENGTH:
        raise InvalidScanCode(
            "The code is empty or too long.", {"field": "code", "length": len(code)}
        )
    if _BARE_SKU.match(code):
        return None, code
    without_query = code.split("?", 1)[0].split("#", 1)[0]
    match = _QR_PATH.search(without_query)
    if not match:
        raise InvalidScanCode(
            "Not a Hema shelf code: expected a SKU or a URL ending in "
            "/q/<store>/<sku>.",
            {"field": "code"},
        )
    return match["store"].upper(), match["sku"]


def _make(payload: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(payload)
    qr.make(fit=True)
    return qr


def render_png(payload: str, *, box_size: int = 10) -> bytes:
    qr = _make(payload)
    qr.box_size = box_size
    buffer = io.BytesIO()
    qr.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def render_svg(payload: str) -> bytes:
    qr = _make(payload)
    image = qr.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode").encode()
