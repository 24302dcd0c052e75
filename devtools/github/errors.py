"""GitHub's error answers: the messages the product matches on, and the error body GitHub sends."""

from __future__ import annotations

from typing import Any

DOCS_URL = "https://docs.github.com/rest"

MSG_NOT_FOUND = "Not Found"
MSG_BAD_CREDENTIALS = "Bad credentials"
MSG_BAD_JSON = "Problems parsing JSON"
MSG_INVALID = "Invalid request."
MSG_ARCHIVED = "Repository was archived so is read-only."
MSG_NO_PUSH = "Resource not accessible by personal access token"
MSG_REF_EXISTS = "Reference already exists"
MSG_NO_OBJECT = "Object does not exist"
MSG_RULES_CREATE = "Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n"
MSG_RULES_UPDATE = "Repository rule violations found\n\nChanges must be made through a pull request.\n\n"
MSG_SHA_MISSING = 'Invalid request.\n\n"sha" wasn\'t supplied.'
MSG_VALIDATION = "Validation Failed"
MSG_PRIMARY = (
    "API rate limit exceeded for user ID 1. "
    "If you reach out to GitHub Support for help, please include the request ID {rid}."
)
MSG_SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {rid}."
)


class ApiError(Exception):
    """An error response: raised anywhere in a handler, turned into GitHub's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(documentation_url=DOCS_URL, status=str(self.status))
        return body


def validation(resource: str, *, field: str = "", message: str | None = None) -> ApiError:
    """GitHub's 422 "Validation Failed" with one error: an invalid field, or a custom message."""
    if message is not None:
        return ApiError(422, MSG_VALIDATION, errors=[{"resource": resource, "code": "custom", "message": message}])
    return ApiError(422, MSG_VALIDATION, errors=[{"resource": resource, "field": field, "code": "invalid"}])
