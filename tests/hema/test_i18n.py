"""Human pages follow the browser's language (English or Simplified Chinese); the
API does not; the project's Chinese catalogue is complete and compiled."""

from pathlib import Path

import pytest
from babel.messages import pofile
from django.conf import settings

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PO = Path(settings.BASE_DIR, "hema/locale/zh_Hans/LC_MESSAGES/django.po")


def test_the_admin_log_in_page_in_chinese(client):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")

    assert response.status_code == 200
    assert response["Content-Language"] == "zh-hans"
    html = response.content.decode()
    assert '<html lang="zh-hans"' in html
    assert "登录" in html


def test_the_admin_log_in_page_in_english_by_default(client):
    response = client.get("/admin/login/")

    assert response["Content-Language"] == "en"
    html = response.content.decode()
    assert '<html lang="en"' in html
    assert "Log in" in html
    assert "登录" not in html


def test_a_language_we_do_not_have_falls_back_to_english(client):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")

    assert response["Content-Language"] == "en"


def test_the_admin_custom_screens_in_chinese(client, make_store_product):
    sp = make_store_product()
    admin = UserFactory(email="root@hema.test", is_staff=True, is_superuser=True)
    client.force_login(admin)

    page = client.get(
        f"/admin/inventory/storeproduct/{sp.pk}/change/",
        HTTP_ACCEPT_LANGUAGE="zh-CN",
    )
    changelist = client.get(
        "/admin/inventory/storeproduct/", HTTP_ACCEPT_LANGUAGE="zh-CN"
    )

    assert page.status_code == 200
    html = page.content.decode()
    for link in ("收货", "盘点更正", "报损"):
        assert link in html
    assert "打印价签（PDF）" in changelist.content.decode()  # noqa: RUF001


def test_the_api_answers_in_english_whatever_the_client_asks(api_client):
    english = api_client.get("/api/v1/stores/", {"lat": "abc", "lng": "1"})
    asked_chinese = api_client.get(
        "/api/v1/stores/", {"lat": "abc", "lng": "1"}, HTTP_ACCEPT_LANGUAGE="zh-CN"
    )

    assert asked_chinese.status_code == english.status_code == 400
    assert asked_chinese.json() == english.json()
    assert "A valid number is required." in str(asked_chinese.json())
    assert "Content-Language" not in asked_chinese


def test_the_chinese_catalogue_is_complete():
    with PO.open("rb") as handle:
        catalog = pofile.read_po(handle, locale="zh_Hans")

    messages = [m for m in catalog if m.id]
    assert len(messages) > 30
    untranslated = [
        m.id
        for m in messages
        if not (all(m.string) if m.pluralizable else m.string) or m.fuzzy
    ]
    assert untranslated == []
    # Placeholders match (a %(name)s lost in translation would be a 500).
    assert [(m.id, errors) for m, errors in catalog.check()] == []


def test_the_catalogue_is_compiled_and_not_committed():
    # `make venv` (and the image build) compile it; a stale one means run it.
    mo = PO.with_suffix(".mo")
    assert mo.is_file(), "run `make venv` to compile the translations"
    assert mo.stat().st_mtime >= PO.stat().st_mtime, "run `make venv`: stale .mo"
    gitignore = (Path(settings.BASE_DIR) / ".gitignore").read_text()
    assert "*.mo" in gitignore.splitlines()
