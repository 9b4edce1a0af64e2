"""Every orders endpoint documents the errors it answers, in the one error shape."""

import json

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS

ERROR_REF = "#/components/schemas/Error"
# Every endpoint below but the webhooks reads a token (a bad one is a 401) and is
# throttled (429); writes can meet a browser session's CSRF check (403).
SIGNED_IN = {"401", "429"}
WRITE = SIGNED_IN | {"403"}

EXPECTED = {
    ("post", "/api/v1/auth/signup/"): {"201", "400"} | WRITE,
    ("post", "/api/v1/auth/login/"): {"200", "400"} | WRITE,
    ("post", "/api/v1/auth/logout/"): {"204"} | WRITE,
    ("get", "/api/v1/me/"): {"200"} | SIGNED_IN,
    ("get", "/api/v1/me/addresses/"): {"200"} | SIGNED_IN,
    ("post", "/api/v1/me/addresses/"): {"201", "400"} | WRITE,
    ("delete", "/api/v1/me/addresses/{address_id}/"): {"204", "404"} | WRITE,
    ("get", "/api/v1/wallet/"): {"200"} | SIGNED_IN,
    ("post", "/api/v1/wallet/top-ups/"): {"201", "400", "409", "422", "503"} | WRITE,
    ("post", "/api/v1/carts/"): {"201", "400", "404"} | WRITE,
    ("get", "/api/v1/carts/{cart_uuid}/"): {"200", "404", "409"} | SIGNED_IN,
    ("post", "/api/v1/carts/{cart_uuid}/lines/"): {"201", "400", "404", "409"} | WRITE,
    ("patch", "/api/v1/carts/{cart_uuid}/lines/{line_id}/"): {
        "200",
        "400",
        "404",
        "409",
    }
    | WRITE,
    ("delete", "/api/v1/carts/{cart_uuid}/lines/{line_id}/"): {
        "204",
        "400",
        "404",
        "409",
    }
    | WRITE,
    ("post", "/api/v1/carts/{cart_uuid}/checkout/"): {
        "200",
        "201",
        "400",
        "402",
        "404",
        "409",
        "422",
        "503",
    }
    | WRITE,
    ("post", "/api/v1/carts/{cart_uuid}/pay/"): {
        "200",
        "201",
        "400",
        "402",
        "404",
        "409",
        "422",
        "503",
    }
    | WRITE,
    ("get", "/api/v1/orders/"): {"200", "400"} | SIGNED_IN,
    ("get", "/api/v1/orders/{order_id}/"): {"200", "404"} | SIGNED_IN,
    ("post", "/api/v1/orders/{order_id}/pay/"): {
        "201",
        "400",
        "402",
        "404",
        "409",
        "422",
        "503",
    }
    | WRITE,
    ("post", "/api/v1/orders/{order_id}/cancel/"): {
        "200",
        "400",
        "404",
        "409",
        "422",
        "503",
    }
    | WRITE,
    ("post", "/api/v1/orders/{order_id}/refunds/"): {
        "201",
        "400",
        "404",
        "409",
        "422",
        "503",
    }
    | WRITE,
    ("post", "/api/v1/payments/webhooks/{provider}/"): {"200", "400", "404"},
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("schema") / "schema.json"
    GENERATOR_STATS.reset()
    call_command("spectacular", "--format", "openapi-json", "--file", str(out))
    return json.loads(out.read_text())


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
def test_each_orders_endpoint_documents_its_errors(schema, method, path):
    responses = schema["paths"][path][method]["responses"]

    assert set(responses) == EXPECTED[(method, path)]
    for status in set(responses):
        if status.startswith("4"):
            content = responses[status]["content"]["application/json"]["schema"]
            assert content == {"$ref": ERROR_REF}, status
