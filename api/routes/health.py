from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api import queries
from api.deps import ServiceDep
from api.models import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health(service: ServiceDep) -> Health:
    """Whether the store answers, and the latest analysis's id and age. No key needed."""
    return await run_in_threadpool(queries.health, service)
