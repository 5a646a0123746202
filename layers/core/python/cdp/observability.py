"""One place for logging/metrics objects, so every function logs the same way (JSON, service name)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME

# CloudWatch namespace of the product's own metrics (embedded metric format in the logs, so no
# PutMetricData call or grant).
METRICS_NAMESPACE = "LineCdp"
metrics = Metrics(namespace=METRICS_NAMESPACE)

INGEST_REJECTED = "IngestRejected"  # events refused at the edge (ingest)
