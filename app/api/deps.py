"""Typed FastAPI dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.resources import Resources


async def get_resources(request: Request) -> Resources:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on
    # every request of every route (the webhook's hot path included).
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]
