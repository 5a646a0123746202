"""Secrets Manager secrets: LINE channel credentials, partner write keys, the admin token."""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, RemovalPolicy, SecretValue, Validations
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.cdp_infra import constants

LINK_SIGNING_KEY_SECRET_ID = "LinkSigningKey"  # noqa: S105 (a construct id, not a secret)


class CdpSecrets(Construct):
    """Credentials the functions read at cold start and cache; never in code or the template.

    - LINE channels: a JSON object keyed by channel name, the `{channel}` of
      `/line/webhook/{channel}`::

          {"default": {"channelSecret": "...", "channelAccessToken": "...", "providerId": "..."}}

      The stack creates it as the empty object `{}` (Secrets Manager cannot generate an empty
      JSON object, so the initial value is that literal, which holds nothing secret). The
      operator fills it after the first deploy with
      `aws secretsmanager put-secret-value --secret-id <LineChannelsSecretArn> --secret-string ...`;
      later deploys leave the value alone. Until then every webhook is refused (unknown channel).
    - write keys: `{"source": "default", "writeKey": "<generated>"}`; partners send the key as
      the Basic-auth user of the Segment/RudderStack HTTP API.
    - admin token: a generated 40-character bearer token for the admin API.
    - link signing key: a generated 64-character HMAC-SHA256 key for personal-link tokens
      (cdp.links.tokens); read by the admin API (to sign) and the link redirect (to verify).

    None of them rotates automatically: the LINE credentials are issued by LINE and the write key
    is configured in partners' systems, so rotation is an operator action, not a Lambda's.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.line_channels = secretsmanager.Secret(
            self,
            constants.LINE_CHANNELS_SECRET_ID,
            description="LINE Messaging API channels keyed by channel name (filled by the operator)",
            secret_string_value=SecretValue.unsafe_plain_text("{}"),  # an empty object, no secret in it
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.write_keys = secretsmanager.Secret(
            self,
            constants.WRITE_KEYS_SECRET_ID,
            description="Write key of the partner HTTP ingestion API (Basic auth user)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"source": "default"}),
                generate_string_key="writeKey",
                exclude_punctuation=True,
                password_length=32,
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.admin_token = secretsmanager.Secret(
            self,
            constants.ADMIN_TOKEN_SECRET_ID,
            description="Bearer token of the admin API",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True,
                password_length=40,
            ),
        )
        self.link_signing_key = secretsmanager.Secret(
            self,
            LINK_SIGNING_KEY_SECRET_ID,
            description="HMAC-SHA256 key of personal tracked-link tokens",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True,
                password_length=64,
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SMG4",
                reason=(
                    "LINE channel secrets/access tokens are issued by LINE and write keys are configured "
                    "in partners' systems and SDKs; neither can be rotated by a Lambda without the other "
                    "side, so rotation is an operator procedure (put-secret-value, then update the "
                    "partner/LINE console). The admin token follows the same manual procedure, and so does "
                    "the link signing key: rotating it invalidates personal links already sent."
                ),
            )
        )
