"""/docs: Swagger UI served by the service itself, no script inline, nothing fetched from elsewhere."""

import re

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from click2call.http import openapi
from click2call.http import routes as routes_module
from click2call.http.routes import routes


@pytest.fixture(scope="module")
def client():
    return TestClient(Starlette(routes=routes))


def test_docs_page_and_its_assets_are_served(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)  # no inline script
    assets = re.findall(r"(?:src|href)='([^']+)'", page.text)
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/docs.js", "/openapi.json"} <= set(assets)
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200 and r.content, asset
        kind = {"js": "text/javascript", "css": "text/css", "json": "application/json"}[asset.rsplit(".", 1)[1]]
        assert r.headers["content-type"].startswith(kind), asset
    assert client.get("/openapi.json").json() == routes_module.spec()
    assert client.get("/docs/nope.js").status_code == 404
    assert client.get("/docs/..%2Fopenapi.py").status_code == 404


def test_nothing_is_fetched_from_elsewhere(client):
    page = client.get("/docs").text
    start = client.get("/docs/docs.js").text
    assert "http:" not in page and "https:" not in page and not re.search(r"(src|href)=['\"]//", page)
    assert "http" not in re.sub(r"//.*", "", start)  # code, not comments: no URL
    assert "validatorUrl: null" in start  # the validator badge would ask validator.swagger.io
    css = client.get("/docs/swagger-ui.css").text
    assert all(u.strip("'\"").startswith("data:") for u in re.findall(r"url\(([^)]*)\)", css))
    assert "@import" not in css
