"""A model of query parameters: an empty parameter is an absent one (its default), unknown ones are ignored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


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
