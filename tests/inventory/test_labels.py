"""The printable shelf-label sheet (A4 PDF and PNG)."""

import io
import re
from decimal import Decimal

import pytest
from PIL import Image

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
