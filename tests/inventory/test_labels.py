"""The printable shelf-label sheet (A4 PDF and PNG)."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.utils import translation
from PIL import Image, ImageDraw

from inventory import labels, qr
from inventory.models import SaleUnit, StoreProduct
from tests.factories import ProductFactory
from tests.inventory.test_qr import expected_matrix

pytestmark = pytest.mark.django_db

D = Decimal
A4_AT_300_DPI = (2480, 3508)


@pytest.fixture
def make_labelled(make_store_product):
    def make(count: int) -> list[StoreProduct]:
        for _ in range(count):
            make_store_product()
        return list(
            StoreProduct.objects.select_related("store", "product").order_by("pk")
        )

    return make


def pdf_pages(pdf: bytes) -> int:
    # One "/Type /Page" object per page ("/Pages" is the page tree, not a page).
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


@pytest.mark.parametrize(
    ("count", "pages"),
    [(1, 1), (labels.LABELS_PER_PAGE, 1), (labels.LABELS_PER_PAGE + 1, 2), (30, 3)],
)
def test_pdf_has_one_a4_page_per_sheet_of_labels(make_labelled, count, pages):
    pdf = labels.labels_pdf(make_labelled(count))

    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert pdf_pages(pdf) == pages == labels.page_count(count)
    assert re.search(rb"/Count %d\b" % pages, pdf)
    # A4 in points (595 x 842), from 300 dpi pages.
    assert pdf.count(b"/MediaBox [ 0 0 595.2 841.92 ]") == pages


def test_the_sheet_is_fourteen_labels_two_across():
    assert (labels.COLUMNS, labels.ROWS, labels.LABELS_PER_PAGE) == (2, 7, 14)


def test_png_is_one_a4_page(make_labelled):
    items = make_labelled(labels.LABELS_PER_PAGE + 2)

    first = labels.labels_png(items)
    second = labels.labels_png(items, page=2)

    for png in (first, second):
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        image = Image.open(io.BytesIO(png))
        assert image.size == A4_AT_300_DPI
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert first != second


def test_png_page_out_of_range_is_refused(make_labelled):
    items = make_labelled(3)

    with pytest.raises(ValueError, match=r"The sheet has 1 page\(s\), not page 2\."):
        labels.labels_png(items, page=2)


def test_no_labels_is_refused():
    with pytest.raises(ValueError, match="No store products"):
        labels.labels_pdf([])


def test_rendering_reads_nothing_from_the_database(
    make_labelled, django_assert_num_queries
):
    items = make_labelled(3)

    with django_assert_num_queries(0):
        labels.labels_pdf(items)
        labels.labels_png(items)


def test_price_is_the_shelf_price_per_piece_or_per_kg(make_store_product):
    apples = make_store_product(list_price=D("12.80"), shelf_price=D("9.9"))
    salmon = make_store_product(
        product=ProductFactory(sale_unit=SaleUnit.KILOGRAM), list_price=D("168.00")
    )

    assert labels.price_text(apples) == ("CNY 9.90", "per piece")
    assert labels.price_text(salmon) == ("CNY 168.00", "per kg")


def test_each_label_carries_the_qr_code_of_its_product(make_labelled):
    items = make_labelled(2)
    page = Image.open(io.BytesIO(labels.labels_png(items))).convert("L")

    for index, sp in enumerate(items):
        payload = qr.qr_payload(store_code="SH01", sku=sp.product.sku)
        matrix = expected_matrix(payload)
        # Where _draw_label puts the code: right-aligned, vertically centred.
        width, height = labels.LABEL_SIZE
        pad = labels._px(labels.PADDING_MM)
        box = (height - 2 * pad) // len(matrix)
        left = labels._px(labels.MARGIN_MM) + index * width + width - pad
        left -= box * len(matrix)
        top = labels._px(labels.MARGIN_MM) + (height - box * len(matrix)) // 2
        found = [
            [
                page.getpixel((left + c * box + box // 2, top + r * box + box // 2))
                < 128
                for c in range(len(matrix))
            ]
            for r in range(len(matrix))
        ]
        assert found == matrix, sp.product.sku


# --- Chinese names and the "as of" time (issue 12) ---------------------------


PRINTED_AT = dt.datetime(2026, 11, 29, 6, 5, tzinfo=dt.UTC)


def test_a_chinese_name_prints_its_glyphs_not_boxes(make_store_product):
    # A font without Chinese draws every missing glyph as the same box: two
    # different names would print the same label. The label font draws both.
    sp = make_store_product(
        product=ProductFactory(name="Strawberries", name_local="草莓")
    )

    def label(local_name: str) -> bytes:
        sp.product.name_local = local_name
        return labels.labels_png([sp], printed_at=PRINTED_AT)

    assert label("草莓") != label("莓草")
    assert label("草莓") != label("")
    assert label("草莓") == label("草莓")


def test_the_label_font_covers_the_demo_names():
    from inventory.demo_catalogue_zh import LOCAL_NAMES

    font = labels._font(labels._Fonts().name_size)

    def glyph(ch: str) -> bytes:
        image = Image.new("L", (font.size * 2, font.size * 2), 0)
        ImageDraw.Draw(image).text((0, 0), ch, font=font, fill=255)
        return image.tobytes()

    missing = glyph("\U0010fffd")  # a code point no font has: the box
    characters = {ch for name in LOCAL_NAMES.values() for ch in name if ch != " "}

    boxes = sorted(ch for ch in characters if glyph(ch) == missing)

    assert labels.font_path() is not None
    assert len(characters) > 300
    assert boxes == []


def test_the_label_prints_when_it_was_printed_in_the_store_time(make_store_product):
    sp = make_store_product()
    printed_at = PRINTED_AT  # 06:05 UTC is 14:05 in Shanghai

    assert labels.as_of_text(sp, printed_at) == "as of 14:05 29 Nov"
    with translation.override("zh-hans"):
        assert labels.as_of_text(sp, printed_at) == "截至 11月29日 14:05"
        assert labels.price_text(sp) == ("CNY 12.80", "每件")
    # The time is on the label: another time prints another label.
    later = printed_at + dt.timedelta(hours=1)
    assert labels.labels_png([sp], printed_at=printed_at) != labels.labels_png(
        [sp], printed_at=later
    )
