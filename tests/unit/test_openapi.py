"""/openapi.json names exactly the routes the service has, and is a valid OpenAPI document."""

from openapi_spec_validator import validate

from click2call.http import openapi
from click2call.http.routes import routes, spec

SPEC = spec()
PATHS = SPEC["paths"]


def test_spec_is_valid_openapi():
    validate(SPEC)


def test_spec_and_routes_agree():
    # a path convertor ({path:path}, a console file's) is documented as the plain parameter
    served = {(r.path.replace(":path}", "}"), m.lower()) for r in routes for m in r.methods if m != "HEAD"}
    described = {(path, method) for path, ops in PATHS.items() for method in ops}
    assert served == described


def test_docs_page_lists_every_operation():
    page = openapi.docs_page(SPEC)
    assert all(path in page for path in PATHS)
