"""Connecting to Redis: one place for the URL check, retries across a Redis restart, and the
clear error when Redis cannot be reached."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from monitor.core.urls import UrlError


class RedisUnavailable(RuntimeError):
    """Redis did not answer (after retries)."""


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise UrlError(f"not a Redis URL: {url!r} (expected redis://HOST:PORT/DB)")
    return url


def redis_params() -> dict[str, Any]:
    """Client options, shared with scrapy-redis: reconnect with backoff for ~15 s, so a Redis
    restart (or failover) pauses the work instead of failing it."""
    # redis is the optional `distributed` extra: loaded only where Redis is used
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError
    from redis.retry import Retry

    return {
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), 12),
        "retry_on_error": [ConnectionError, TimeoutError, ConnectionResetError],
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "health_check_interval": 10,
    }


def connect(url: str) -> Any:
    """A redis-py client for `url`, checked with PING."""
    import redis  # the optional `distributed` extra (see redis_params)

    client = redis.Redis.from_url(check_url(url), **redis_params())
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}") from None
    return client
