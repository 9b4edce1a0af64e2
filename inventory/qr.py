"""Shelf QR codes: a stable URL per store product, rendered as PNG or SVG.

The code encodes ``<HEMA_QR_BASE_URL>/q/<store>/<sku>``. Parsing ignores the host,
so labels printed before a domain change still scan, and accepts the payload
percent-encoded (an app that encodes it once more than the URL needs).
"""

import io
import re
from urllib.parse import unquote

import qrcode
import qrcode.image.svg
from django.conf import settings
from PIL import Image

from inventory.errors import InvalidScanCode

_QR_PATH = re.compile(
    r"(?:^|/)q/(?P<store>[A-Za-z0-9][A-Za-z0-9_-]{0,15})/"
    r"(?P<sku>[A-Za-z0-9][A-Za-z0-9._-]{0,63})/?$"
)
_BARE_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_CODE_LENGTH = 512
_BORDER = 2


def qr_payload(*, store_code: str, sku: str) -> str:
    base = settings.HEMA_QR_BASE_URL.rstrip("/")
    return f"{base}/q/{store_code}/{sku}"


def parse_scan_code(code: str) -> tuple[str | None, str]:
    """Return ``(store_code or None, sku)`` from a QR payload or a bare SKU."""
    code = (code or "").strip()
    if "%" in code and len(code) <= MAX_CODE_LENGTH * 3:
        # No SKU or store code contains "%": it can only be percent-encoding.
        code = unquote(code).strip()
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
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=_BORDER
    )
    qr.add_data(payload)
    qr.make(fit=True)
    return qr


def render_image(payload: str, *, box_size: int = 10) -> Image.Image:
    """The code as a black-on-white Pillow image (for label sheets)."""
    qr = _make(payload)
    qr.box_size = box_size
    return qr.make_image().get_image().convert("1")


def module_count(payload: str) -> int:
    """Modules per side of the code, quiet zone included."""
    return _make(payload).modules_count + 2 * _BORDER


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


_STORE_DOOR = re.compile(r"(?:^|/)s/(?P<store>[A-Za-z0-9][A-Za-z0-9_-]{0,15})/?$")


def store_door_payload(*, store_code: str) -> str:
    """The code at the store's door: scanning it opens an in-store cart there."""
    return f"{settings.HEMA_QR_BASE_URL.rstrip('/')}/s/{store_code}"


def parse_store_code(value: str) -> str:
    """A store code typed or chosen in the app, or scanned from the door's QR."""
    value = (value or "").strip()
    match = _STORE_DOOR.search(value.split("?", 1)[0])
    return (match["store"] if match else value).upper()
