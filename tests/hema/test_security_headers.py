"""A Content-Security-Policy and a Permissions-Policy on every response, and the
pages the backend serves (the admin, the API docs) work under them: nothing
inline that the policy would block."""

import re
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_POLICY = POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
PERMISSIONS = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


@pytest.fixture
def boss() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("boss@hema.test", "pw-123456"))
    return client


@pytest.mark.parametrize(
    "url",
    ["/healthz", "/api/v1/stores/", "/api/v1/nothing/", "/admin/login/", "/q/X/Y"],
)
def test_every_response_carries_both_policies(client, url):
    response = client.get(url)

    assert response["Content-Security-Policy"] == POLICY
    assert response["Permissions-Policy"] == PERMISSIONS


@pytest.mark.parametrize(
    "url",
    [
        "/admin/login/",
        "/admin/",
        "/admin/accounts/user/",
        "/admin/accounts/user/add/",
        "/admin/password_change/",
    ],
)
def test_admin_pages_have_nothing_inline_for_the_policy_to_block(boss, url):
    response = (Client() if url == "/admin/login/" else boss).get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert INLINE_SCRIPT.findall(html) == []
    assert INLINE_STYLE.findall(html) == []
    assert EVENT_HANDLER.findall(html) == []


PROJECT_TEMPLATES = sorted(
    path
    for app in ("accounts", "inventory", "orders", "pricing", "hema")
    for path in (Path(__file__).resolve().parents[2] / app).glob("templates/**/*.html")
)


@pytest.mark.parametrize(
    "template", PROJECT_TEMPLATES, ids=[p.name for p in PROJECT_TEMPLATES]
)
def test_the_projects_own_admin_pages_have_nothing_inline_either(template):
    """The policy blocks inline styles and scripts on the admin pages the
    project adds too (store product stock screens, price preview and history)."""
    html = template.read_text()

    assert INLINE_SCRIPT.findall(html) == []
    assert INLINE_STYLE.findall(html) == []
    assert EVENT_HANDLER.findall(html) == []


def test_the_api_docs_load_their_script_from_a_url_and_allow_their_style(client):
    page = client.get("/api/docs/")
    script = client.get("/api/docs/?script=")

    html = page.content.decode()
    assert INLINE_SCRIPT.findall(html) == []
    assert EVENT_HANDLER.findall(html) == []
    assert page["Content-Security-Policy"] == DOCS_POLICY
    assert script.status_code == 200
    assert script["Content-Type"] == "application/javascript"
