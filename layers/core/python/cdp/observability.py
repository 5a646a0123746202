"""One place for logging/metrics objects, so every function logs the same way (JSON, service name)."""

from __future__ import annotations

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from cdp.access.masking import scrub_log_text


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines with phones, emails and credentials masked in the whole line (the
    message, every extra key, an exception's text): a last guard behind not logging them at all."""

    def serialize(self, log: Any) -> str:
        return scrub_log_text(super().serialize(log))


logger = Logger(logger_formatter=ScrubbingFormatter())  # service name from POWERTOOLS_SERVICE_NAME

# CloudWatch namespace of the product's own metrics (embedded metric format in the logs, so no
# PutMetricData call or grant). The stack sets the same on every function; infra's dashboard and
# alarms read these names (infra/cdp_infra/monitoring.py).
METRICS_NAMESPACE = "LineCdp"
metrics = Metrics(namespace=METRICS_NAMESPACE)
# Most invocations count nothing (no one entered a segment, every sync went well): not a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")

INGEST_REJECTED = "IngestRejected"  # events refused at the edge (ingest)
SEGMENT_ENTERED = "SegmentEntered"  # people who entered a segment (real time and scheduled)
SEGMENT_EXITED = "SegmentExited"
AUDIT_WRITE_FAILED = "AuditWriteFailed"  # an admin action whose audit record could not be stored
AUDIENCE_SYNC_FAILED = "AudienceSyncFailed"  # a synced LINE audience not brought up to date
