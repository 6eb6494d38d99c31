"""The interactive documentation, /docs (Swagger UI) and /redoc, with nothing fetched from
outside: their scripts, styles and icon come from the app (the fastapi-offline package ships
them; `create_app` serves them under ASSETS), no web fonts are asked for, and a Content Security
Policy keeps the pages to their own origin, so they also work where CDNs are blocked."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

__all__ = ["ASSETS", "router"]

ASSETS = "/docs/assets"
"""Where Swagger UI's and ReDoc's scripts and styles are served from."""

_OAUTH2_REDIRECT = "/docs/oauth2-redirect"

# Both pages start their viewer with an inline script and set inline styles; ReDoc runs its
# search in a worker made from a blob. Everything else is this origin's. ReDoc's side menu
# shows Redocly's logo from Redocly's CDN: refused here, so the link stays, without the image.
_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    # Behind a proxy that mounts the service under a path, the pages' links start with it.
    root: str = request.scope.get("root_path", "")
    return root


def _guarded(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _POLICY
    return page


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the contract."""
    root = _root(request)
    return _guarded(
        get_swagger_ui_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title}: Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            oauth2_redirect_url=f"{root}{_OAUTH2_REDIRECT}",
            # Swagger UI's default sends the contract's address to an online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )
    )


@router.get(_OAUTH2_REDIRECT)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    """Where an OAuth2 authorisation started from Swagger UI returns to."""
    return _guarded(get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the contract."""
    root = _root(request)
    return _guarded(
        get_redoc_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title}: ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
    )
