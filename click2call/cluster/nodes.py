"""The Asterisk nodes a deployment has. `C2C_ASTERISK_NODES="a=http://10.0.0.1:8088,b=http://10.0.0.2:8088"` names
several; without it, `C2C_ARI_URL` is the one node, named by `C2C_NODE_NAME` (default `asterisk`). Every node uses
`C2C_ARI_USER` / `C2C_ARI_PASSWORD` unless `C2C_ARI_USER_<NAME>` / `C2C_ARI_PASSWORD_<NAME>` say otherwise (NAME
in capitals, anything but letters and digits as `_`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DEFAULT_NAME = "asterisk"


@dataclass(frozen=True)
class Node:
    name: str
    ari_url: str  # Asterisk's HTTP server, without /ari
    ari_user: str
    ari_password: str = field(repr=False)


def env_suffix(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def _url(text: str, where: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or parts.query or parts.fragment:
        raise ValueError(f"{where}: expected an http(s) URL of Asterisk's HTTP server without credentials, "
                         f"got {text!r}")
    return text.rstrip("/")


def parse(env: Mapping[str, str], default_url: str, default_user: str) -> tuple[Node, ...]:
    """The configured nodes; ValueError names what is wrong."""
    user = env.get("C2C_ARI_USER", default_user)
    password = env.get("C2C_ARI_PASSWORD", "")
    listed = env.get("C2C_ASTERISK_NODES", "").strip()
    if not listed:
        name = env.get("C2C_NODE_NAME", DEFAULT_NAME)
        if not NAME_RE.fullmatch(name):
            raise ValueError(f"C2C_NODE_NAME must be 1-64 letters, digits, '.', '_' or '-', got {name!r}")
        return (Node(name, _url(env.get("C2C_ARI_URL", default_url), "C2C_ARI_URL"), user, password),)
    nodes: list[Node] = []
    for item in filter(None, (part.strip() for part in listed.split(","))):
        name, sep, url = item.partition("=")
        name = name.strip()
        if not sep or not NAME_RE.fullmatch(name):
            raise ValueError(f"C2C_ASTERISK_NODES: expected NAME=URL with a name of 1-64 letters, digits, '.', '_' "
                             f"or '-', got {item!r}")
        if any(n.name == name for n in nodes):
            raise ValueError(f"C2C_ASTERISK_NODES: node {name} is named twice")
        suffix = env_suffix(name)
        nodes.append(Node(name, _url(url.strip(), f"C2C_ASTERISK_NODES: node {name}"),
                          env.get(f"C2C_ARI_USER_{suffix}", user), env.get(f"C2C_ARI_PASSWORD_{suffix}", password)))
    if not nodes:
        raise ValueError("C2C_ASTERISK_NODES names no node")
    suffixes = [env_suffix(n.name) for n in nodes]
    if len(set(suffixes)) != len(suffixes):
        raise ValueError("C2C_ASTERISK_NODES: two node names differ only in case or punctuation, so their "
                         "C2C_ARI_PASSWORD_<NAME> would be the same variable")
    return tuple(nodes)


def duplicate_entity_ids(found: Mapping[str, str]) -> str | None:
    """node -> Asterisk's entity id: a message naming the nodes that share one, else None. Identical entity ids
    make Asterisk's own routing of channels and events go wrong; every node needs its own (asterisk.conf)."""
    by_id: dict[str, list[str]] = {}
    for node, entity_id in found.items():
        by_id.setdefault(entity_id, []).append(node)
    shared = {e: sorted(names) for e, names in by_id.items() if len(names) > 1}
    if not shared:
        return None
    return "; ".join(f"nodes {', '.join(names)} have the same Asterisk entity id {e} (set a distinct entityid in "
                     "each node's asterisk.conf)" for e, names in sorted(shared.items()))
