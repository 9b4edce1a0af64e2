"""The OpenAPI schema and its documentation pages."""

import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS

SCAN = "/api/v1/stores/{store_code}/scan/{code}"
QR = "/api/v1/stores/{store_code}/products/{sku}/qr.{fmt}"
STORE = "/api/v1/stores/{store_code}/"
ERROR_REF = "#/components/schemas/Error"


def spectacular(out, *options: str) -> dict:
    GENERATOR_STATS.reset()
    call_command(
        "spectacular", "--format", "openapi-json", "--file", str(out), *options
    )
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    """The schema as ``manage.py spectacular`` writes it, checked against OpenAPI."""
    return spectacular(tmp_path_factory.mktemp("schema") / "schema.json", "--validate")


def test_schema_is_valid_openapi_without_warnings(tmp_path):
    schema = spectacular(tmp_path / "schema.json", "--validate", "--fail-on-warn")

    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Hema API"


@pytest.mark.parametrize("path", [SCAN, QR, STORE])
def test_read_endpoints_document_their_errors_in_the_one_error_shape(schema, path):
    responses = schema["paths"][path]["get"]["responses"]

    expected = {"200", "404"} if path == STORE else {"200", "400", "404"}
    assert set(responses) == expected
    for status in expected - {"200"}:
        assert responses[status]["content"]["application/json"]["schema"] == {
            "$ref": ERROR_REF
        }
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {
        "error",
        "message",
        "extra",
    }


def test_scan_returns_the_scan_result(schema):
    ok = schema["paths"][SCAN]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScanResult"
    }
    fields = schema["components"]["schemas"]["ScanResult"]["properties"]
    assert {
        "price",
        "list_price",
        "currency",
        "in_stock",
        "available",
        "origin",
        "freshness",
    } <= set(fields)


def test_qr_documents_both_image_types_and_the_formats(schema):
    operation = schema["paths"][QR]["get"]

    assert set(operation["responses"]["200"]["content"]) == {
        "image/png",
        "image/svg+xml",
    }
    (fmt,) = [p for p in operation["parameters"] if p["name"] == "fmt"]
    assert fmt["schema"]["enum"] == ["png", "svg"]
    assert operation["operationId"] == "v1_stores_products_qr_retrieve"


@pytest.mark.django_db
def test_schema_endpoint_serves_the_same_paths(client, schema):
    response = client.get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )

    assert response.status_code == 200
    assert set(json.loads(response.content)["paths"]) == set(schema["paths"])


@pytest.mark.django_db
def test_swagger_ui_uses_only_local_assets(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "https://" not in html
    assert "http://" not in html
    assets = re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html)
    assert len(assets) >= 3
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset
    # The init script comes from a URL (no inline script: see the CSP).
    assert "<script>" not in html
    assert '<script src="/api/docs/?script="></script>' in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"] == "application/javascript"
    assert 'url: "/api/schema/"' in script.content.decode()
