"""Secrets Manager reads with an in-process TTL cache (secrets change rarely; calls cost latency)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.errors import StoreUnavailable


class CachedSecrets:
    def __init__(self, client: Any, ttl_seconds: int = 300) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get_text(self, secret_id: str) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(secret_id)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            value = str(self._client.get_secret_value(SecretId=secret_id)["SecretString"])
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable("reading configuration from Secrets Manager failed") from exc
        with self._lock:
            self._cache[secret_id] = (now, value)
        return value

    def refresh(self, secret_id: str) -> None:
        with self._lock:
            self._cache.pop(secret_id, None)

    def get_json(self, secret_id: str) -> Any:
        text = self.get_text(secret_id)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise StoreUnavailable(f"secret {secret_id} is not valid JSON") from exc
