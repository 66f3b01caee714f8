"""The dashboard: static pages served by the ingest service under ``/dashboard`` (``/`` redirects
there), talking to the query API. MapLibre GL comes from npm, installed at build time
(``make dashboard-assets``: ``package.json`` + ``package-lock.json`` here, modules in the git-ignored
``.cache/npm/node_modules``) and served locally under ``/dashboard/vendor/maplibre-gl/``: the page
needs no internet, and has no external tiles (a plain background under the segments).

    >>> mount(app)     # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"


def npm_modules() -> Path:
    """Where ``make dashboard-assets`` installed the npm packages (``$FACTEUR_NPM_MODULES``
    overrides, for an installed rather than checked-out service)."""
    env = os.environ.get("FACTEUR_NPM_MODULES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".cache" / "npm" / "node_modules"


def maplibre_dist() -> Path:
    return npm_modules() / "maplibre-gl" / "dist"


router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/")


def mount(app: FastAPI) -> None:
    """Serve the dashboard and its vendored MapLibre GL on ``app``."""
    app.include_router(router)
    app.mount(
        "/dashboard/vendor/maplibre-gl",
        StaticFiles(directory=maplibre_dist(), check_dir=False),
        name="maplibre",
    )
    app.mount("/dashboard", StaticFiles(directory=STATIC, html=True), name="dashboard")
