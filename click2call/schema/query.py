"""What a request's input is before its model checks it: query parameters (an empty parameter is an absent one, its
default; unknown ones are ignored), or a JSON body (an object)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from .fields import refuse


def json_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        refuse("the body must be a JSON object")
    return body


class Query(BaseModel):
    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _present(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return cls.prepare({k: v for k, v in data.items() if v != ""})

    @classmethod
    def prepare(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters present, before their fields are checked: a model may relate one to another here."""
        return params
