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
    # A bad token is refused even on a public read; every read is throttled.
    expected |= {"401", "429"}
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


# --- The schema tells the truth (issue 12, items 7 and 8) ---------------------------

TAGS = {
    "auth",
    "stores",
    "scan",
    "prices",
    "members",
    "wallet",
    "carts",
    "orders",
    "webhooks",
    "picking",
    "rail",
    "packing",
}
CATALOGUE = "/api/v1/stores/{store_code}/catalogue/"
WEBHOOK = "/api/v1/payments/webhooks/{provider}/"


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def parameter(operation: dict, name: str) -> dict:
    (found,) = [p for p in operation["parameters"] if p["name"] == name]
    return found


def test_every_operation_has_one_known_tag_and_a_one_line_summary(schema):
    seen = set()
    for method, path, operation in operations(schema):
        (tag,) = operation["tags"]
        assert tag in TAGS, (method, path, tag)
        seen.add(tag)
        summary = operation.get("summary", "")
        assert summary, (method, path)
        assert "\n" not in summary
        assert len(summary) <= 80, summary
    assert seen == TAGS
    assert [tag["name"] for tag in schema["tags"]] == [
        "auth",
        "stores",
        "scan",
        "prices",
        "members",
        "wallet",
        "carts",
        "orders",
        "webhooks",
        "picking",
        "rail",
        "packing",
    ]


def test_every_4xx_answers_the_one_error_component(schema):
    refusals = 0
    for method, path, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                refusals += 1
                content = response["content"]["application/json"]["schema"]
                assert content == {"$ref": ERROR_REF}, (method, path, status)
    assert refusals > 100
    extra = schema["components"]["schemas"]["Error"]["properties"]["extra"]
    assert extra["type"] == "object"
    assert set(extra["properties"]) == {"field", "fields"}
    assert "first field" in extra["description"]


def test_429_is_documented_wherever_a_throttle_counts(schema):
    for method, path, operation in operations(schema):
        responses = operation["responses"]
        if path == WEBHOOK:
            assert "429" not in responses  # providers are not throttled
            continue
        assert "429" in responses, (method, path)
        assert "Retry-After" in responses["429"]["headers"]


def test_the_authorize_box_explains_the_token_form(schema):
    token = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (token["type"], token["in"], token["name"]) == (
        "apiKey",
        "header",
        "Authorization",
    )
    assert "`Authorization: Token <token>`" in token["description"]
    assert "/api/v1/auth/login/" in token["description"]


def test_catalogue_documents_its_refusals_and_pages(schema):
    operation = schema["paths"][CATALOGUE]["get"]

    assert {"400", "404"} <= set(operation["responses"])
    assert parameter(operation, "limit")["schema"]["minimum"] == 1
    assert parameter(operation, "offset")["schema"]["minimum"] == 0


def test_store_hours_are_local_times_not_rfc3339_times(schema):
    store = schema["components"]["schemas"]["Store"]["properties"]
    for name in ("opens_at", "closes_at"):
        assert "format" not in store[name]
        assert re.fullmatch(store[name]["pattern"], "07:00:00")
        assert not re.fullmatch(store[name]["pattern"], "24:00:00")


def test_a_line_that_replaced_nothing_may_say_null(schema):
    line = schema["components"]["schemas"]["OrderLineOutput"]["properties"]
    assert line["substitute_for"]["nullable"] is True


def test_validators_are_in_the_schema(schema):
    components = schema["components"]["schemas"]
    stores = schema["paths"]["/api/v1/stores/"]["get"]
    # lat and lng travel together (?lat=..&lng=..): one exploded object whose
    # two properties are both required, each with its range.
    location = parameter(stores, "location")
    assert (location["in"], location["style"], location["explode"]) == (
        "query",
        "form",
        True,
    )
    assert location["schema"]["required"] == ["lat", "lng"]
    assert location["schema"]["properties"]["lat"] == {
        "type": "number",
        "minimum": -90,
        "maximum": 90,
    }
    assert location["schema"]["properties"]["lng"]["maximum"] == 180
    prices = schema["paths"]["/api/v1/stores/{store_code}/prices/"]["get"]
    assert parameter(prices, "limit")["schema"]["minimum"] == 1
    assert parameter(prices, "limit")["schema"]["maximum"] == 5000
    # Blank strings are refused, so requests say minLength 1.
    assert components["LogInInputRequest"]["properties"]["login"]["minLength"] == 1
    assert components["LogInInputRequest"]["properties"]["password"]["minLength"] == 1
    # Amounts at least 0.01; quantities more than zero.
    refund = components["OrderRefundInputRequest"]["properties"]["amount"]
    assert not re.fullmatch(refund["pattern"], "0.00")
    assert not re.fullmatch(refund["pattern"], "-1")
    assert re.fullmatch(refund["pattern"], "0.01")
    quantity = components["CartLineInputRequest"]["properties"]["quantity"]
    assert not re.fullmatch(quantity["pattern"], "")
    assert not re.fullmatch(quantity["pattern"], "0")
    assert re.fullmatch(quantity["pattern"], "0.25")
    # A coordinate's range, and what a new password must be.
    address = components["AddressRequest"]["properties"]
    assert not re.fullmatch(address["latitude"]["pattern"], "")
    assert not re.fullmatch(address["latitude"]["pattern"], "90.5")
    assert re.fullmatch(address["latitude"]["pattern"], "-31.2243")
    assert re.fullmatch(address["longitude"]["pattern"], "121.4468")
    assert not re.fullmatch(address["longitude"]["pattern"], "181")
    password = components["SignUpInputRequest"]["properties"]["password"]
    assert password["minLength"] == 8
    # Unknown fields on a new cart are refused.
    assert components["CartOpenInputRequest"]["additionalProperties"] is False


def test_the_idempotency_key_says_its_length(schema):
    checkout = schema["paths"]["/api/v1/carts/{cart_uuid}/checkout/"]["post"]
    key = parameter(checkout, "Idempotency-Key")
    assert key["required"] is True
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)


def test_the_webhook_documents_its_body_and_signature(schema):
    operation = schema["paths"][WEBHOOK]["post"]

    signature = parameter(operation, "Hema-Signature")
    assert (signature["in"], signature["required"]) == ("header", True)
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    event = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert set(event["required"]) == {"id", "type", "data"}
    assert operation["security"] == [{}]  # no token: the signature is the proof
