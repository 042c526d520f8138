"""Hold a real answer to what /api/v1/openapi.json says that endpoint answers."""

import json

from jsonschema import Draft202012Validator, FormatChecker

from dashboard.openapi import openapi_document

DOCUMENT = openapi_document("http://testserver")


def answer_schema(path: str, method: str, status: int) -> dict:
    operation = DOCUMENT["paths"][path][method.lower()]
    response = operation["responses"][str(status)]
    return response["content"]["application/json"]["schema"]


def assert_matches_openapi(response, path: str, method: str = "get") -> None:
    """The answer's status is documented for the operation, and its JSON body matches."""
    schema = answer_schema(path, method, response.status_code)
    validator = Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]}, format_checker=FormatChecker()
    )
    body = json.loads(response.content)
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
