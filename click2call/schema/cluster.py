"""The cluster as GET /v1/cluster shows it."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict


class ClusterNode(TypedDict):
    name: str
    ari_url: str
    reachable: bool  # this replica reached its ARI just now
    ari_error: str | None  # why it did not (e.g. "ARI TLS: certificate verify failed for ..."); None when it did
    owner: str | None  # the replica that runs its event stream and calls; None: nobody (yet)
    lease_expires_in: float | None  # seconds; None without a cluster's leases
    epoch: int  # grows at every change of owner
    entity_id: str
    registered_extensions: int | None  # PJSIP endpoints online; None when the node cannot be asked
    calls_in_progress: int


class ClusterReplica(TypedDict):
    id: str
    name: str
    last_seen_seconds_ago: float
    live: bool


class Cluster(TypedDict):
    status: Literal["success"]
    nodes: list[ClusterNode]
    replicas: list[ClusterReplica]
