"""DynamoDB answered in-process: moto's DynamoDB handler without the HTTP round trip (adaptation `direct-dynamodb`),
its results written as JSON in one pass (`lean-dynamodb-results`), each condition expression parsed once
(`parsed-conditions`).

Each ledger write of a spoke went through botocore's request signing, HTTP request building and sending, moto's
search for the backend whose URL patterns match, moto's request normalization, and back: about half of the
write's CPU, none of it DynamoDB's logic. Here a DynamoDB call of any client, once botocore has validated and
serialized its parameters and run its `before-call` handlers, goes straight to moto's `DynamoHandler.dispatch`, the
very method moto's URL table names for DynamoDB. What DynamoDB checks stays moto's: its request parsing, every
validation, the backend, the error shapes; botocore still parses the answer and raises the same exceptions.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from contextlib import ExitStack
from types import SimpleNamespace
from typing import Any

from hubspoke.engine.gate import ReadWriteGate
from hubspoke.engine.patching import patched

# Results of these operations are plain JSON documents (attribute values, counts, keys): written with json.dumps,
# they are byte for byte what moto's shape-walking serializer writes (tests/e2e/test_adaptations.py compares both).
LEAN_ACTIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem"}
)
# Distinct (expression, names, values) kept; the engine's own writes use a handful.
_PARSED_CONDITIONS = 4096
# moto checks no signature; it reads the access key (the account) and the region from this header's scope.
_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential={key}/{day}/{region}/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)


def install_direct_dynamodb(stack: ExitStack, gate: ReadWriteGate) -> None:
    """Route every botocore DynamoDB request to moto's handler in-process while the engine runs."""
    from botocore.client import BaseClient

    original = BaseClient._make_request  # type: ignore[attr-defined]

    @functools.wraps(original)
    def make_request(self: Any, operation_model: Any, request_dict: dict[str, Any], request_context: Any) -> Any:
        if operation_model.service_model.service_name != "dynamodb" or not _moto().stubber.enabled:
            return original(self, operation_model, request_dict, request_context)
        try:
            return _answer(self, operation_model, request_dict, gate)
        except Exception as exc:
            # As botocore's own _make_request reports a failed request.
            service_id = self._service_model.service_id.hyphenize()
            self.meta.events.emit(
                f"after-call-error.{service_id}.{operation_model.name}", exception=exc, context=request_context
            )
            raise

    stack.enter_context(patched(BaseClient, "_make_request", make_request))


def install_lean_dynamodb_results(stack: ExitStack) -> None:
    """Write LEAN_ACTIONS' results with json.dumps instead of moto's serializer (Summarize's ledger Query pages
    spent nearly all their CPU there: the serializer walks the output shape for every attribute of every item)."""
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original = DynamoHandler.serialized

    @functools.wraps(original)
    def serialized(self: Any, action_result: Any) -> Any:
        if type(action_result) is DynamoResult and self._get_action() in LEAN_ACTIONS:
            try:
                body = json.dumps(action_result.result, separators=(",", ":"), default=_blob)
            except (TypeError, ValueError):  # not a plain JSON document after all: moto's serializer decides
                return original(self, action_result)
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, body
        return original(self, action_result)

    stack.enter_context(patched(DynamoHandler, "serialized", serialized))


def install_parsed_conditions(stack: ExitStack) -> None:
    """Parse each DynamoDB condition expression once (adaptation `parsed-conditions`).

    moto parses a write's condition twice per request (to validate the names it uses, then to evaluate it), a
    quarter of a conditional PutItem's CPU. The syntax tree depends only on the expression and its attribute
    names and values, and evaluating it changes nothing in it, so one tree per (expression, names, values) serves
    every request. Errors are not kept: an invalid expression is parsed, and refused, each time.
    """
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    parsed: dict[tuple[str | None, str, str], tuple[Any, tuple[str, ...], tuple[str, ...]]] = {}

    @functools.wraps(original)
    def parse(self: Any) -> Any:
        key = (
            self.condition_expression,
            json.dumps(self.expression_attribute_names, sort_keys=True, default=repr),
            json.dumps(self.expression_attribute_values, sort_keys=True, default=repr),
        )
        known = parsed.get(key)
        if known is None:
            op = original(self)  # an invalid expression raises here, every time, as in moto
            if len(parsed) < _PARSED_CONDITIONS:
                parsed[key] = (op, tuple(self.expr_attr_names_found), tuple(self.expr_attr_values_found))
            return op
        op, names_found, values_found = known
        # What moto's parse leaves on the parser: the caller checks the request's names against it.
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return op

    stack.enter_context(patched(ConditionExpressionParser, "parse", parse))


def _blob(value: Any) -> str:
    """moto keeps binary attribute values (B, BS) as bytes; DynamoDB's JSON carries them in base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


@functools.cache
def _moto() -> SimpleNamespace:
    """What a DynamoDB answer needs from botocore and moto, imported once (the engine imports moto when it starts)."""
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HTTPHeaders
    from botocore.endpoint import convert_to_response_dict
    from moto.core.botocore_stubber import MockRawResponse
    from moto.core.models import botocore_stubber
    from moto.core.request import normalize_request
    from moto.dynamodb.responses import DynamoHandler
    from werkzeug.exceptions import HTTPException  # what moto's errors derive from, as its stubber catches

    return SimpleNamespace(
        prepared_request=AWSPreparedRequest,
        response=AWSResponse,
        headers=HTTPHeaders,
        response_dict=convert_to_response_dict,
        raw_response=MockRawResponse,
        stubber=botocore_stubber,
        normalize=normalize_request,
        dispatch=DynamoHandler.dispatch,
        http_exception=HTTPException,
    )


def _answer(client: Any, operation_model: Any, request_dict: dict[str, Any], gate: ReadWriteGate) -> Any:
    """(http_response, parsed) for one DynamoDB request, as botocore's endpoint returns them."""
    moto = _moto()
    region = client.meta.region_name
    url = f"https://dynamodb.{region}.amazonaws.com/"
    credentials = client._request_signer._credentials
    key = credentials.get_frozen_credentials().access_key if credentials is not None else "AKIAEXAMPLE"
    headers = moto.headers()
    for name, value in request_dict["headers"].items():
        headers[name] = value
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers["X-Amz-Date"] = stamp
    headers["Authorization"] = _AUTHORIZATION.format(key=key, day=stamp[:8], region=region)
    body = request_dict["body"]
    request = moto.prepared_request(
        method="POST",
        url=url,
        headers=headers,
        body=body.encode() if isinstance(body, str) else body,
        stream_output=False,
    )
    normalized = moto.normalize(request)
    # The same gate moto's HTTP path passes (adaptation `serialized-moto`): a Query or Scan runs alone.
    with gate.enter(f"before-send.dynamodb.{operation_model.name}"):
        try:
            status, answer_headers, answer = moto.dispatch(normalized, normalized.raw_url, normalized.headers)
        except moto.http_exception as exc:  # as moto's botocore stubber turns them into answers
            status, answer_headers, answer = exc.code, exc.get_headers(), exc.get_body()
    http = moto.response(url, status, answer_headers, moto.raw_response(answer))
    response_dict = moto.response_dict(http, operation_model)
    endpoint = client._endpoint
    parser = endpoint._response_parser_factory.create_parser(operation_model.service_model.resolved_protocol)
    parsed = parser.parse(response_dict, operation_model.output_shape)
    if status >= 300:
        endpoint._add_modeled_error_fields(response_dict, parsed, operation_model, parser)
    if "ResponseMetadata" in parsed:
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
    return http, parsed
