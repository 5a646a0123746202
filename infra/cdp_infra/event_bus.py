"""The custom EventBridge bus for domain events, with an archive to replay them."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from constructs import Construct

from infra.cdp_infra import constants


class DomainEventBus(Construct):
    """`profile.*`, `segment.*`, `journey.*` events leave the processor through this bus.

    A custom bus keeps them away from the account's default bus; the archive keeps every event
    for a while so a new consumer (or a fixed one) can be replayed from history.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", description=f"{constants.SERVICE_NAME} domain events")
        self.archive = self.bus.archive(
            "Archive",
            description=f"{constants.SERVICE_NAME} domain events, kept for replay",
            # Every event on this bus: all of them come from this account.
            event_pattern=events.EventPattern(account=[Stack.of(self).account]),
            retention=constants.EVENT_ARCHIVE_RETENTION,
        )
