import re

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

API_PATHS = [
    "/api/auth/token/",
    "/api/stores/",
    "/api/stores/{slug}/",
    "/api/products/",
    "/api/products/{id}/",
    "/api/promotions/",
    "/api/promotions/{id}/",
    "/api/faqs/",
    "/api/faqs/{id}/",
    "/api/synonyms/",
    "/api/synonyms/{id}/",
    "/api/conversations/",
    "/api/conversations/{id}/",
    "/api/reports/{store}/",
    "/api/shops/{store}/events/",
]


def test_schema_validates_without_warnings_and_lists_every_endpoint(tmp_path) -> None:
    target = tmp_path / "schema.yml"
    # Raises CommandError on any generator warning or an invalid OpenAPI document.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    assert sorted(schema["paths"]) == sorted(API_PATHS)
    assert set(schema["paths"]["/api/products/{id}/"]) == {"get", "put", "patch", "delete"}
    assert set(schema["paths"]["/api/conversations/{id}/"]) == {"get"}


@pytest.mark.django_db
def test_schema_endpoint_serves_the_document() -> None:
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    assert set(API_PATHS) <= set(response.json()["paths"])


@pytest.mark.django_db
def test_swagger_page_loads_only_local_assets() -> None:
    client = Client()
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert not re.search(r"https?://", page), "the docs page must work offline, without a CDN"

    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert client.get(asset).status_code == 200, asset
