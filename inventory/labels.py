"""Printable shelf labels: an A4 sheet, a grid of labels with the shelf price.

Each label carries what a shopper reads on the shelf edge (the product's name,
the shelf price per piece or per kilogram in the store's currency, the origin)
and what staff and the app need (the SKU, the shelf location and the QR code the
app scans). The functions are pure: store products in (with ``product`` and
``store`` loaded), bytes out; no database writes, no network.

The sheet is black and white at 300 dpi (bi-level pages are stored with CCITT G4
compression in the PDF, so the codes stay sharp) with thin grey cut lines.

The price moves by the hour, so each label prints when it was printed ("as of
14:05 29 Nov", the store's local time) beside the price. Names print in any
script: the text is set in Noto Sans SC (SIL Open Font License 1.1), which the
``pylopdf-fonts-zh-cn`` package installs from PyPI with the project, so nothing
is downloaded at run time and Chinese names never print as boxes. The fixed
words ("per kg", "as of", "Origin") follow the active language.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from PIL import Image, ImageDraw, ImageFont

from inventory import qr
from inventory.display import money
from inventory.models import SaleUnit, StoreProduct

logger = logging.getLogger(__name__)

DPI = 300
PAGE_MM = (210.0, 297.0)  # A4 portrait
MARGIN_MM = 10.0
COLUMNS = 2
ROWS = 7
LABELS_PER_PAGE = COLUMNS * ROWS
PADDING_MM = 3.0


def _px(mm: float) -> int:
    return round(mm * DPI / 25.4)


PAGE_SIZE = (_px(PAGE_MM[0]), _px(PAGE_MM[1]))
LABEL_SIZE = (
    _px((PAGE_MM[0] - 2 * MARGIN_MM) / COLUMNS),
    _px((PAGE_MM[1] - 2 * MARGIN_MM) / ROWS),
)


@functools.cache
def font_path() -> Path | None:
    """The label typeface: Noto Sans SC, Latin and CJK in one font (OFL 1.1).

    It comes with ``pip install`` (the ``pylopdf-fonts-zh-cn`` package carries
    the font file and its licence). Without it the labels still print, in
    Pillow's bundled font, whose missing Chinese glyphs print as boxes: logged.
    """
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        logger.warning("pylopdf-fonts-zh-cn is missing: CJK names print as boxes")
        return None
    path = pylopdf_fonts_zh_cn.sans_path()
    return path if path.is_file() else None


@functools.cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    path = font_path()
    if path is not None:
        return ImageFont.truetype(str(path), size=size)
    # Pillow's bundled scalable font (FreeType ships in Pillow's wheels).
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class _Fonts:
    """The label's type sizes in pixels; ``font(size)`` is cached per process."""

    name_size: int = _px(4.2)
    price_size: int = _px(7.5)
    small_size: int = _px(2.9)
    tag_size: int = _px(2.6)

    @property
    def name(self) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
        return _font(self.name_size)

    @property
    def price(self) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
        return _font(self.price_size)

    @property
    def small(self) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
        return _font(self.small_size)

    @property
    def tag(self) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
        return _font(self.tag_size)


def price_text(store_product: StoreProduct) -> tuple[str, str]:
    """The price as printed: ``("CNY 12.80", "per piece")`` or ``(..., "per kg")``."""
    amount = money(store_product.shelf_price, store_product.store.currency)
    unit = (
        _("per kg")
        if store_product.product.sale_unit == SaleUnit.KILOGRAM
        else _("per piece")
    )
    return amount, unit


def as_of_text(store_product: StoreProduct, printed_at: dt.datetime) -> str:
    """``"as of 14:05 29 Nov"``: when the label was printed, in the store's time.

    Shelf prices move by the hour; the time tells a shopper (and staff) whether
    the label is older than the price in the app.
    """
    local = timezone.localtime(printed_at, store_product.store.tz)
    # Translators: a label's print time; Django date format characters.
    when = dateformat.format(local, pgettext("label print time", "H:i j M"))
    return _("as of %(time)s") % {"time": when}


def _width(draw: ImageDraw.ImageDraw, text: str, font) -> int:
    left, _top, right, _bottom = draw.textbbox((0, 0), text, font=font)
    return right - left


def _shorten(draw: ImageDraw.ImageDraw, text: str, font, max_width: int) -> str:
    if _width(draw, text, font) <= max_width:
        return text
    while text and _width(draw, text + "...", font) > max_width:
        text = text[:-1]
    return text.rstrip() + "..."


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font, max_width: int, max_lines: int
) -> list[str]:
    """Greedy word wrap; the last line is shortened with an ellipsis if needed."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < max_lines:
        line = words.pop(0)
        while words and _width(draw, f"{line} {words[0]}", font) <= max_width:
            line = f"{line} {words.pop(0)}"
        lines.append(line)
    if words:
        lines[-1] = _shorten(draw, f"{lines[-1]} {' '.join(words)}", font, max_width)
    return [_shorten(draw, line, font, max_width) for line in lines]


def _draw_label(
    page: Image.Image,
    origin: tuple[int, int],
    sp: StoreProduct,
    fonts: _Fonts,
    printed_at: dt.datetime,
) -> None:
    draw = ImageDraw.Draw(page)
    x0, y0 = origin
    width, height = LABEL_SIZE
    pad = _px(PADDING_MM)
    product = sp.product

    # The QR code on the right, scaled by a whole number of pixels per module.
    payload = qr.qr_payload(store_code=sp.store.code, sku=product.sku)
    box = max((height - 2 * pad) // qr.module_count(payload), 1)
    code = qr.render_image(payload, box_size=box)
    code_x = x0 + width - pad - code.width
    page.paste(code, (code_x, y0 + (height - code.height) // 2))

    text_x = x0 + pad
    text_width = code_x - text_x - pad
    y = y0 + pad
    if product.name_local:
        # The local name first, as shoppers in the store read it; English below.
        local = _shorten(draw, product.name_local, fonts.name, text_width)
        draw.text((text_x, y), local, font=fonts.name, fill=0)
        y += round(fonts.name_size * 1.15)
        english = _shorten(draw, product.name, fonts.small, text_width)
        draw.text((text_x, y), english, font=fonts.small, fill=0)
        y += round(fonts.small_size * 1.2)
    else:
        for line in _wrap(draw, product.name, fonts.name, text_width, max_lines=2):
            draw.text((text_x, y), line, font=fonts.name, fill=0)
            y += round(fonts.name_size * 1.15)

    y += _px(1.0)
    amount, unit = price_text(sp)
    draw.text(
        (text_x, y),
        _shorten(draw, amount, fonts.price, text_width),
        fill=0,
        font=fonts.price,
    )
    # Noto Sans sets tall glyphs: a little more room between price and unit.
    y += round(fonts.price_size * 1.2)
    unit_line = (
        _("%(unit)s - daily fresh") % {"unit": unit} if product.is_daily_fresh else unit
    ).upper()
    draw.text((text_x, y), unit_line, font=fonts.tag, fill=0)
    # Beside the unit, under the price: when this price was printed. It is
    # never cut short: a long unit line sets it a little smaller instead.
    as_of_x = text_x + _width(draw, unit_line, fonts.tag) + _px(2.5)
    room = max(text_x + text_width - as_of_x, 1)
    as_of = as_of_text(sp, printed_at)
    size = fonts.tag_size
    while size > _px(1.8) and _width(draw, as_of, _font(size)) > room:
        size -= 1
    draw.text(
        (as_of_x, y + fonts.tag_size - size),
        _shorten(draw, as_of, _font(size), room),
        font=_font(size),
        fill=0,
    )

    details = []
    if product.origin:
        details.append(_("Origin: %(origin)s") % {"origin": product.origin})
    location = " ".join(part for part in (sp.store.code, sp.shelf_location) if part)
    details.append(f"{product.sku}  {location}")
    y = y0 + height - pad - len(details) * round(fonts.small_size * 1.2)
    for line in details:
        draw.text(
            (text_x, y),
            _shorten(draw, line, fonts.small, text_width),
            font=fonts.small,
            fill=0,
        )
        y += round(fonts.small_size * 1.2)


def _draw_cut_lines(page: Image.Image, count: int) -> None:
    """A dotted frame around each used cell: where to cut."""
    draw = ImageDraw.Draw(page)
    left, top = _px(MARGIN_MM), _px(MARGIN_MM)
    width, height = LABEL_SIZE
    for index in range(count):
        row, column = divmod(index, COLUMNS)
        x0, y0 = left + column * width, top + row * height
        x1, y1 = x0 + width - 1, y0 + height - 1
        for x in range(x0, x1 + 1, 12):
            draw.line([(x, y0), (min(x + 5, x1), y0)], fill=0)
            draw.line([(x, y1), (min(x + 5, x1), y1)], fill=0)
        for y in range(y0, y1 + 1, 12):
            draw.line([(x0, y), (x0, min(y + 5, y1))], fill=0)
            draw.line([(x1, y), (x1, min(y + 5, y1))], fill=0)


def _render_page(
    chunk: Sequence[StoreProduct], fonts: _Fonts, printed_at: dt.datetime
) -> Image.Image:
    page = Image.new("1", PAGE_SIZE, 1)
    _draw_cut_lines(page, len(chunk))
    for index, sp in enumerate(chunk):
        row, column = divmod(index, COLUMNS)
        origin = (
            _px(MARGIN_MM) + column * LABEL_SIZE[0],
            _px(MARGIN_MM) + row * LABEL_SIZE[1],
        )
        _draw_label(page, origin, sp, fonts, printed_at)
    return page


def _chunks(store_products: Sequence[StoreProduct]) -> list[list[StoreProduct]]:
    items = list(store_products)
    if not items:
        raise ValueError("No store products to print labels for.")
    return [
        items[start : start + LABELS_PER_PAGE]
        for start in range(0, len(items), LABELS_PER_PAGE)
    ]


def render_pages(
    store_products: Sequence[StoreProduct], *, printed_at: dt.datetime | None = None
) -> list[Image.Image]:
    """One bi-level A4 image per page, ``LABELS_PER_PAGE`` labels each, in order.

    ``printed_at`` (default: now) is the "as of" time each label prints.
    """
    fonts = _Fonts()
    printed_at = printed_at or timezone.now()
    return [_render_page(chunk, fonts, printed_at) for chunk in _chunks(store_products)]


def page_count(label_count: int) -> int:
    return -(-label_count // LABELS_PER_PAGE)


def labels_pdf(
    store_products: Sequence[StoreProduct], *, printed_at: dt.datetime | None = None
) -> bytes:
    """The label sheet as a PDF, one A4 page per ``LABELS_PER_PAGE`` labels."""
    first, *rest = render_pages(store_products, printed_at=printed_at)
    buffer = io.BytesIO()
    first.save(
        buffer,
        format="PDF",
        save_all=True,
        append_images=rest,
        resolution=DPI,
        title="Hema shelf labels",
    )
    return buffer.getvalue()


def labels_png(
    store_products: Sequence[StoreProduct],
    *,
    page: int = 1,
    printed_at: dt.datetime | None = None,
) -> bytes:
    """One page of the label sheet as a PNG (``page`` counts from 1)."""
    chunks = _chunks(store_products)
    if not 1 <= page <= len(chunks):
        raise ValueError(f"The sheet has {len(chunks)} page(s), not page {page}.")
    buffer = io.BytesIO()
    image = _render_page(chunks[page - 1], _Fonts(), printed_at or timezone.now())
    image.save(buffer, format="PNG", dpi=(DPI, DPI))
    return buffer.getvalue()
