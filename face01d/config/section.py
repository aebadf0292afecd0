"""The base every config section shares (its own module so that sections may live beside their feature)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values immutable.

    Booleans are strict: ``enabled = "yes"`` (or 1) is an error, not true.
    Environment overrides arrive as strings; the loader turns their "true"
    and "false" into booleans before validation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_bool(cls, value: object, info: ValidationInfo) -> object:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and field.annotation is bool and not isinstance(value, bool):
            raise PydanticCustomError("bool_type", "Input should be true or false (a TOML boolean), not {value}",
                                      {"value": repr(value)})
        return value
