"""Shelf QR codes: the payload, parsing what a shopper scanned, the rendered images.

The images are checked module by module against the QR matrix of the payload, so
a code that renders but encodes something else fails.
"""

import io
import re
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
import qrcode
from django.test import override_settings
from PIL import Image

from inventory.errors import InvalidScanCode
from inventory.qr import (
    MAX_CODE_LENGTH,
    module_count,
    parse_scan_code,
    qr_payload,
    render_png,
    render_svg,
)

PAYLOAD = "https://hema.test/q/SH01/SKU00001"
SVG_NS = "{http://www.w3.org/2000/svg}"


def expected_matrix(payload: str) -> list[list[bool]]:
    """The modules (quiet zone included) the payload must produce."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(payload)
    code.make(fit=True)
    return code.get_matrix()


def modules_from_png(png: bytes, box_size: int) -> list[list[bool]]:
    image = Image.open(io.BytesIO(png)).convert("L")
    count = image.width // box_size
    centre = box_size // 2
    return [
        [
            image.getpixel((c * box_size + centre, r * box_size + centre)) < 128
            for c in range(count)
        ]
        for r in range(count)
    ]


def modules_from_svg(svg: bytes) -> list[list[bool]]:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, not untrusted input
    size = int(root.get("viewBox").split()[2])
    dark = {
        (int(x), int(y))
        for x, y in re.findall(r"M(\d+),(\d+)H", root.find(f"{SVG_NS}path").get("d"))
    }
    return [[(c, r) in dark for c in range(size)] for r in range(size)]


# --- Payload ------------------------------------------------------------------


def test_payload_is_the_landing_url_on_the_configured_host():
    assert qr_payload(store_code="SH01", sku="SKU00001") == PAYLOAD


@override_settings(HEMA_QR_BASE_URL="https://scan.freshippo.example/")
def test_payload_ignores_a_trailing_slash_on_the_base_url():
    assert (
        qr_payload(store_code="SH01", sku="A-1")
        == "https://scan.freshippo.example/q/SH01/A-1"
    )


# --- Parsing what was scanned -------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("SKU00001", (None, "SKU00001")),
        ("apple.fuji-1_kg", (None, "apple.fuji-1_kg")),
        (PAYLOAD, ("SH01", "SKU00001")),
        ("  " + PAYLOAD + "  ", ("SH01", "SKU00001")),
        (PAYLOAD + "/", ("SH01", "SKU00001")),
        (PAYLOAD + "?utm=label#top", ("SH01", "SKU00001")),
        ("https://hema.test/q/sh01/SKU00001", ("SH01", "SKU00001")),
        # Labels printed under an older domain still scan.
        ("http://old-host.example:8000/q/SH01/SKU00001", ("SH01", "SKU00001")),
        ("/q/SH01/SKU00001", ("SH01", "SKU00001")),
        ("q/SH01/SKU00001", ("SH01", "SKU00001")),
        (quote(PAYLOAD, safe=""), ("SH01", "SKU00001")),
    ],
)
def test_parse_accepts_a_bare_sku_or_a_shelf_url(code, expected):
    assert parse_scan_code(code) == expected


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "The code is empty or too long."),
        ("   ", "The code is empty or too long."),
        ("S" * (MAX_CODE_LENGTH + 1), "The code is empty or too long."),
        ("SKU 0001", "Not a Hema shelf code"),
        ("SKU0001;drop", "Not a Hema shelf code"),
        ("-SKU", "Not a Hema shelf code"),
        ("https://hema.test/products/SKU00001", "Not a Hema shelf code"),
        ("https://hema.test/q/SH01/", "Not a Hema shelf code"),
        ("https://hema.test/q/SH01/SKU00001/more", "Not a Hema shelf code"),
        ("https://hema.test/q/SH 01/SKU00001", "Not a Hema shelf code"),
        ("%ZZ", "Not a Hema shelf code"),
    ],
)
def test_parse_refuses_anything_else_naming_the_field(code, message):
    with pytest.raises(InvalidScanCode) as caught:
        parse_scan_code(code)
    assert caught.value.message.startswith(message)
    assert caught.value.extra["field"] == "code"
    assert caught.value.status_code == 400


def test_parse_refuses_a_sku_longer_than_the_catalogue_allows():
    with pytest.raises(InvalidScanCode):
        parse_scan_code("A" * 65)
    assert parse_scan_code("A" * 64) == (None, "A" * 64)


# --- Rendering ----------------------------------------------------------------


def test_png_encodes_the_payload_module_for_module():
    png = render_png(PAYLOAD, box_size=10)

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    side = module_count(PAYLOAD) * 10
    assert image.size == (side, side)
    assert modules_from_png(png, 10) == expected_matrix(PAYLOAD)
    assert modules_from_png(png, 10) != expected_matrix(PAYLOAD.replace("1", "2"))


def test_svg_is_xml_and_encodes_the_payload_module_for_module():
    svg = render_svg(PAYLOAD)

    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox") == f"0 0 {module_count(PAYLOAD)} {module_count(PAYLOAD)}"
    assert modules_from_svg(svg) == expected_matrix(PAYLOAD)


def test_renders_are_stable_byte_for_byte():
    assert render_png(PAYLOAD) == render_png(PAYLOAD)
    assert render_svg(PAYLOAD) == render_svg(PAYLOAD)
    assert render_png(PAYLOAD) != render_png(PAYLOAD + "2")
