"""`s3-manifest`: the targets are a JSON array or a CSV file (with an `id` column) in S3."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.errors import InvalidRunRequest, aws_error_code

NAME = "s3-manifest"
MAX_BYTES = 50 * 1024 * 1024  # the hub reads the whole object; refuse what would not fit comfortably


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["s3-manifest"]
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    key: str = Field(min_length=1, max_length=1024)
    format: Literal["json", "csv"] | None = None

    @field_validator("key")
    @classmethod
    def _safe_key(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/") or "\\" in value:
            raise ValueError("must be a relative object key without '..' segments or backslashes")
        return value

    @property
    def effective_format(self) -> str:
        if self.format:
            return self.format
        return "csv" if self.key.lower().endswith(".csv") else "json"


def origin(spec: Spec) -> str:
    return f"s3://{spec.bucket}/{spec.key}"


def discover(spec: Spec, ctx: Any) -> list[Any]:
    where = origin(spec)
    try:
        head = ctx.s3.head_object(Bucket=spec.bucket, Key=spec.key)
        if head["ContentLength"] > MAX_BYTES:
            raise InvalidRunRequest([f"source.key: {where} is larger than {MAX_BYTES} bytes"])
        body = ctx.s3.get_object(Bucket=spec.bucket, Key=spec.key)["Body"].read()
    except ClientError as err:
        code = aws_error_code(err)
        raise InvalidRunRequest([f"source.key: cannot read {where} ({code})"]) from None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRunRequest([f"source.key: {where} is not UTF-8 text"]) from None
    return _parse_csv(text, where) if spec.effective_format == "csv" else _parse_json(text, where)


def _parse_json(text: str, where: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidRunRequest([f"source.key: {where} is not valid JSON ({err.msg}, line {err.lineno})"]) from None
    except RecursionError:
        # Python's decoder recurses: about 1,000 levels of nesting stop it. No target nests that deep.
        raise InvalidRunRequest([f"source.key: {where} nests too deeply to read (no target nests this deep)"]) from None
    if not isinstance(data, list):
        raise InvalidRunRequest([f"source.key: {where} must hold a JSON array of objects with an 'id'"])
    return data


def _parse_csv(text: str, where: str) -> list[Any]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise InvalidRunRequest([f"source.key: {where} must be CSV with an 'id' column"])
        return [{k: v for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as err:
        # e.g. a field over the csv module's 131,072-character limit: refused, not a crash.
        problem = f"source.key: {where} is not readable CSV (after line {reader.line_num}: {err})"
        raise InvalidRunRequest([problem]) from None
