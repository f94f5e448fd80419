"""The bodies of answers: success, fail, and the lists. Every failure is {"status":"fail","error":CODE,"message":TEXT}
(errors.ApiError); v2 adds "code"."""

from __future__ import annotations

from typing import Literal

from typing_extensions import NotRequired, TypedDict

from .calls import LiveCall
from .hooks import Delivery, Hook


class Success(TypedDict):
    status: Literal["success"]
    call_id: str


class TransferStarted(Success):
    """The transfer is under way: the target rings (its outcome is the `transfer` webhook's). `ext` or `phone`."""

    ext: NotRequired[str]
    phone: NotRequired[str]


class V2Success(Success):
    code: Literal["0"]


class Fail(TypedDict):
    status: Literal["fail"]
    error: str  # a code of errors.CODES (NOT_FOUND, METHOD_NOT_ALLOWED, INTERNAL_ERROR from the framework)
    message: str


class V2Fail(Fail):
    code: Literal["1"]


class Ok(TypedDict):
    status: Literal["success"]


class Health(TypedDict):
    status: Literal["ok"]


class Ready(TypedDict):
    status: Literal["ok"]
    ari: NotRequired[Literal["connected"]]  # one replica: the event stream of every node is connected
    database: NotRequired[Literal["reachable"]]  # a cluster's replica: the database answers...
    nodes: NotRequired[Literal["run"]]  # ...and a live replica runs every node


class CallList(Ok):
    data: list[LiveCall]


class HookList(Ok):
    data: list[Hook]


class HookCreated(Ok):
    data: Hook


class DeliveryList(Ok):
    data: list[Delivery]
