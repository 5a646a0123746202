"""One place for logging/metrics objects, so every function logs the same way (JSON, service name)."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
