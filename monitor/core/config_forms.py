"""The forms a configuration string can be required to have (pure): a nameserver as
address:port, a DNS name, a plain e-mail address, an environment variable name, a host, a Redis
key prefix. Each `*_problem` returns a short reason, or None when the text has the form.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any


def show(value: Any) -> str:
    """`repr(value)`, shortened for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_nameserver(text: str) -> tuple[str, int]:
    """`"127.0.0.1:5353"`, `"[::1]:5353"`, `"::1"`, `"10.0.0.1"` -> (address, port); the address
    must be an IP literal (a nameserver named by a name would need a resolver). ValueError."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"expected [address]:port, got {text!r}")
        port_text = rest[1:] if rest else "53"
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, "53"
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"not an IP address: {host!r} (use e.g. 127.0.0.1:5353)") from None
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port must be 1-65535, got {port_text!r}")
    return address, int(port_text)


_LABEL = re.compile(r"(?i)^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def dns_name_problem(text: str) -> str | None:
    """Why `text` is not a DNS name (letters, digits, '-', '_'; labels of 1-63; <= 253)."""
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return f"not a DNS name: {show(text)}"
    if not all(_LABEL.match(label) for label in name.split(".")):
        return f"not a DNS name: {show(text)}"
    return None


_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def email_problem(text: str) -> str | None:
    """Why `text` is not a plain e-mail address (local@domain, no display name)."""
    local, at, domain = text.rpartition("@")
    if not at or not _LOCAL.match(local) or len(local) > 64 or dns_name_problem(domain):
        return f"not an e-mail address such as alerts@hotline.example: {show(text)}"
    return None


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_name_problem(text: str) -> str | None:
    if not _ENV_NAME.match(text):
        return f"not an environment variable name: {show(text)}"
    return None


def host_problem(text: str) -> str | None:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return dns_name_problem(text)
    return None


_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def key_prefix_problem(text: str) -> str | None:
    if not _KEY_PREFIX.match(text):
        return f"use letters, digits and _.:- only, got {show(text)}"
    return None
