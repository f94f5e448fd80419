"""The API's contract, declared once (pydantic v2): what each request may carry, and the shape of each answer and
webhook payload. Validation of input, the OpenAPI document (http/openapi.py) and the webhooks' JSON Schemas all come
from these declarations.

    fields         one rule per kind of value (phone, extension, caller-ID name, customer id, boolean words, ...)
    click_to_call  the query of GET /v1/click2call and the JSON body of POST /v2/click2call
    cdr            CDR filters, the CDR item and its page
    calls          a call in progress
    hooks          webhook subscription (request and view) and deliveries
    events         the webhook payload of each event
    responses      success and fail bodies
    tenants_file   the TOML tenants file

Nothing is imported here, so that loading one module (e.g. the settings' field rules) loads no other.
"""
