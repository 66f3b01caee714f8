"""Typed dependencies shared by the API routes."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool


def get_pool(request: Request) -> AsyncConnectionPool:
    return cast(AsyncConnectionPool, request.app.state.pool)


PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
