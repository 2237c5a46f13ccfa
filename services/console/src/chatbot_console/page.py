"""The console's page: the login form, the session, and the page itself (which uses the API)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from .deps import ConsoleDep
from .metrics import LOGINS

__all__ = ["STATIC", "router"]

STATIC = Path(__file__).parent / "static"

router = APIRouter()

_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chatbot console: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/console.css"></head>
<body class="login"><form method="post" action="/login" class="login-form">
<h1>chatbot console</h1>{problem}
<label>Your name <input name="operator" required maxlength="64" autocomplete="username"></label>
<label>Console token
<input name="token" type="password" required autocomplete="current-password"></label>
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit">Log in</button></form></body></html>
"""


def _login_page(request: Request, console: ConsoleDep, problem: str = "") -> HTMLResponse:
    shown = f'<p class="problem" role="alert">{html.escape(problem)}</p>' if problem else ""
    page = _LOGIN.format(problem=shown, csrf=console.gate.csrf_token(request))
    return HTMLResponse(page, status_code=401 if problem else 200)


@router.get("/login", include_in_schema=False)
async def login_form(request: Request, console: ConsoleDep) -> HTMLResponse:
    return _login_page(request, console)


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    console: ConsoleDep,
    operator: Annotated[str, Form(max_length=64)],
    token: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=128)],
) -> Response:
    """Check the token; a session for ``operator`` when it is right."""
    gate = console.gate
    gate.check_csrf(request, csrf)
    client = request.client.host if request.client else "unknown"
    if gate.throttled(client):
        LOGINS.labels("throttled").inc()
        page = _login_page(request, console, "Too many failed logins: wait a minute.")
        page.status_code = 429
        return page
    if not gate.matches(token):
        gate.failed(client)
        return _login_page(request, console, "That is not the console token.")
    LOGINS.labels("ok").inc()
    request.session.clear()
    request.session["operator"] = "".join(c for c in operator if c.isprintable()).strip() or "?"
    gate.csrf_token(request)  # a new one for the new session
    return RedirectResponse("/", status_code=303)


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, console: ConsoleDep, csrf: Annotated[str, Form()]) -> Response:
    console.gate.check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/", include_in_schema=False)
async def page(request: Request, console: ConsoleDep) -> Response:
    """The console page, for an operator who logged in; its CSRF token in a cookie-free
    meta tag would need templating, so the page asks ``/session`` for it."""
    if not request.session.get("operator"):
        return RedirectResponse("/login", status_code=303)
    return FileResponse(STATIC / "index.html")


@router.get("/session", include_in_schema=False)
async def session(request: Request, console: ConsoleDep) -> dict[str, str]:
    """Who is logged in, and the CSRF token the page sends with each change."""
    operator = request.session.get("operator")
    if not operator:
        return {}
    return {"operator": operator, "csrf": console.gate.csrf_token(request)}
