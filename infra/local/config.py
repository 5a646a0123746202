"""Local defaults, each overridable from the environment; printed at start so nobody has to guess."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

REGION = "ap-northeast-1"
LOCAL_CHANNEL = "default"
LOCAL_WRITE_KEY_SOURCE = "default"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass(frozen=True, slots=True)
class LocalConfig:
    http_port: int
    aws_port: int
    line_api_port: int
    line_channel_secret: str
    line_channel_access_token: str
    line_bot_user_id: str
    line_login_channel_id: str
    write_key: str
    admin_token: str
    state_dir: str

    @classmethod
    def from_env(cls) -> LocalConfig:
        return cls(
            http_port=_port("CDP_PORT", 8000),
            aws_port=_port("CDP_AWS_PORT", 0),  # 0: any free port
            line_api_port=_port("CDP_LINE_API_PORT", 0),
            line_channel_secret=os.environ.get("CDP_LINE_CHANNEL_SECRET", "local-dev-secret"),
            line_channel_access_token=os.environ.get("CDP_LINE_CHANNEL_ACCESS_TOKEN", "local-dev-access-token"),
            line_bot_user_id=os.environ.get("CDP_LINE_BOT_USER_ID", "U" + "0" * 31 + "1"),
            # The `aud` the LINE fake puts in ID tokens: `line_fake.issue_id_token(user, <this>)`.
            line_login_channel_id=os.environ.get("CDP_LINE_LOGIN_CHANNEL_ID", "1650000001"),
            write_key=os.environ.get("CDP_WRITE_KEY", "local-dev-write-key"),
            admin_token=os.environ.get("CDP_ADMIN_TOKEN", "local-dev-admin-token"),
            state_dir=os.environ.get("CDP_LOCAL_STATE_DIR", ".local"),
        )

    def line_channels_secret(self) -> dict[str, Any]:
        return {
            LOCAL_CHANNEL: {
                "channelSecret": self.line_channel_secret,
                "channelAccessToken": self.line_channel_access_token,
                "providerId": LOCAL_CHANNEL,
                "loginChannelId": self.line_login_channel_id,
            }
        }

    def write_keys_secret(self) -> dict[str, Any]:
        return {"writeKey": self.write_key, "source": LOCAL_WRITE_KEY_SOURCE}
