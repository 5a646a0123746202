"""Translate botocore errors into domain errors in one place."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from cdp.errors import StoreUnavailable

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
# A single-item write that met an ongoing transaction on its item: a lost race, like a failed condition.
TRANSACTION_CONFLICT = "TransactionConflictException"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def unavailable(exc: ClientError | BotoCoreError, what: str) -> StoreUnavailable:
    code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return StoreUnavailable(f"{what} failed: {code}", details={"aws_error": code})
