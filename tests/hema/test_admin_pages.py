"""The admin's own pages: a 403 in its style with a way back (the API keeps its
JSON errors), and a header with no "View site" link to nowhere."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings
from django.urls import path

from hema.urls import urlpatterns as project_urlpatterns
from tests.demo_manager import demo_manager, signed_in
from tests.factories import StoreFactory, StoreProductFactory

pytestmark = pytest.mark.django_db


def refuse(request):
    raise PermissionDenied("not yours")


urlpatterns = [
    path("api/v1/test-refused/", refuse),
    path("elsewhere/test-refused/", refuse),
    *project_urlpatterns,
]
handler403 = "hema.views.permission_denied"


@pytest.fixture
def theirs():
    """A store product of a store the manager does not manage."""
    return StoreProductFactory(store=StoreFactory(code="BJ01", name="Beijing"))


def test_another_stores_page_is_a_403_in_the_admins_style_with_a_way_back(
    store, theirs
):
    client = signed_in(demo_manager(store))
    came_from = "http://testserver/admin/inventory/storeproduct/"

    response = client.get(
        f"/admin/inventory/storeproduct/{theirs.pk}/change/", HTTP_REFERER=came_from
    )

    assert response.status_code == 403
    html = response.content.decode()
    assert "This page belongs to a store you do not manage" in html
    assert "Hema administration" in html  # the admin's header
    assert 'href="/admin/">Back to the admin home</a>' in html
    assert f'href="{came_from}">Back to the previous page</a>' in html
    assert 'id="logout-form"' in html  # still signed in, with the user tools


def test_a_back_link_to_another_site_is_not_offered(store, theirs):
    client = signed_in(demo_manager(store))

    response = client.get(
        f"/admin/inventory/storeproduct/{theirs.pk}/change/",
        HTTP_REFERER="https://evil.example/phish",
    )

    html = response.content.decode()
    assert response.status_code == 403
    assert "evil.example" not in html
    assert "Back to the admin home" in html


@override_settings(ROOT_URLCONF=__name__)
def test_the_api_keeps_its_json_403(store):
    client = signed_in(demo_manager(store))

    response = client.get("/api/v1/test-refused/")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "error": "permission_denied",
        "message": "You do not have permission to perform this action.",
        "extra": {},
    }


@override_settings(ROOT_URLCONF=__name__)
def test_other_pages_keep_djangos_403(store):
    response = signed_in(demo_manager(store)).get("/elsewhere/test-refused/")

    assert response.status_code == 403
    assert "Back to the admin home" not in response.content.decode()


def test_the_header_has_no_view_site_link_to_nowhere(store):
    html = signed_in(demo_manager(store)).get("/admin/").content.decode()

    assert "View site" not in html
    assert 'href="/"' not in html
    assert "Log out" in html
    assert Client().get("/").status_code == 404  # there is no site at / to view
