"""One base for the errors Julia expects (DESIGN rule 12).

A `JuliaError` says what went wrong for a person (`str(exc)`, often pt-BR for operators) and
carries what an edge answers with it: `status_code` (HTTP) and `code`, a short stable string
a client can branch on. The API's one handler turns any of them into
`{"detail": str(exc), "code": exc.code}` with that status; workers and the CLI read the same
attributes or just the message.

`code` defaults to the class name in snake_case (`CampaignNotFound` -> "campaign_not_found"),
so every subclass has its own without repeating it; a class may pin one explicitly.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


class JuliaError(Exception):
    """An expected failure with the HTTP status and stable code an edge reports it with."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "julia_error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = _snake(cls.__name__)


class BadRequest(JuliaError):
    """The request cannot be done as asked (400)."""

    status_code = 400


class NotFound(JuliaError):
    """What the request names does not exist (404)."""

    status_code = 404


class Conflict(JuliaError):
    """The current state does not allow the request (409)."""

    status_code = 409


class Invalid(JuliaError):
    """The input is well-formed but not usable (422)."""

    status_code = 422


class Unavailable(JuliaError):
    """A dependency (a vendor, the store) failed; trying again later may work (503)."""

    status_code = 503
