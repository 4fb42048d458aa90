"""Browser sessions and cross-site request forgery tokens, with no server-side storage.

A session cookie carries `token_id.expiry.nonce` and an HMAC of them under a server secret.
Each request checks the signature, the expiry and the token table: a revoked token ends every
session started with it, at the token table's next refresh. The secret is
`AGREEMENTS_SESSION_SECRET` when set, else derived from the log's signing key file when it
exists (every worker of one deployment shares it: sessions survive restarts and work across
workers), else random for the life of the process.

CSRF: every form carries `csrf`, an HMAC of the session's nonce (a synchronizer token that
needs no storage); the login form, before any session exists, is bound the same way to a
random nonce in a short-lived `agr_login` cookie (a signed double-submit token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from starlette.requests import Request
from starlette.responses import Response

from events.audit import signing_key_path
from events.signed_checkpoints import load_private_key
from service.auth import MATRIX, Permission, Principal
from service.routes.base import Services

SESSION_COOKIE = "agr_session"
LOGIN_COOKIE = "agr_login"
SESSION_SECONDS = 8 * 3600
"""A session ends this long after sign-in (`AGREEMENTS_SESSION_SECONDS` overrides it)."""
LOGIN_SECONDS = 3600
SECRET_ENV = "AGREEMENTS_SESSION_SECRET"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    nonce: str
    expires: int

    def may(self, permission: Permission) -> bool:
        return self.principal.role in MATRIX[permission]


def session_seconds() -> int:
    raw = os.environ.get("AGREEMENTS_SESSION_SECONDS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else SESSION_SECONDS


def secret(request: Request) -> bytes:
    """The app's session secret, made once (see the module doc)."""
    state = request.app.state
    found: bytes | None = getattr(state, "web_session_secret", None)
    if found is None:
        found = _configured_secret(request)
        state.web_session_secret = found
    return found


def _configured_secret(request: Request) -> bytes:
    configured = os.environ.get(SECRET_ENV, "")
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    services: Services = request.state.services
    path = signing_key_path(services.settings.database_url)
    if path.is_file():
        # Never created here: a lost key file must stay lost until restored or rotated.
        key = load_private_key(path)
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return hmac.new(raw, b"agreements browser sessions v1", hashlib.sha256).digest()
    log.warning(
        "no %s and no signing key file: browser sessions last as long as this process",
        SECRET_ENV,
    )
    return secrets.token_bytes(32)


def _mac(key: bytes, purpose: str, message: str) -> str:
    digest = hmac.new(key, f"{purpose}\x00{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def start(request: Request, response: Response, principal: Principal) -> None:
    """Set the session cookie for `principal` on `response`."""
    seconds = session_seconds()
    expires = int(time.time()) + seconds
    body = f"{principal.token_id}.{expires}.{secrets.token_urlsafe(16)}"
    value = f"{body}.{_mac(secret(request), 'session', body)}"
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")


def end(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def current(request: Request) -> Session | None:
    """The request's session: signed by us, not expired, its token still active."""
    value = request.cookies.get(SESSION_COOKIE, "")
    parts = value.split(".")
    if len(parts) != 4:
        return None
    token_id, expires, nonce, mac = parts
    body = f"{token_id}.{expires}.{nonce}"
    if not hmac.compare_digest(mac, _mac(secret(request), "session", body)):
        return None
    if not expires.isdigit() or int(expires) <= time.time():
        return None
    services: Services = request.state.services
    for record in services.tokens.tokens():
        if record.token_id == token_id and record.active:
            principal = Principal(token_id=record.token_id, name=record.name, role=record.role)
            return Session(principal=principal, nonce=nonce, expires=int(expires))
    return None


def csrf_token(request: Request, session: Session) -> str:
    return _mac(secret(request), "csrf", session.nonce)


def csrf_ok(request: Request, session: Session, given: str) -> bool:
    return bool(given) and hmac.compare_digest(given, csrf_token(request, session))


def login_nonce(request: Request) -> str:
    """The pre-session nonce the login form is bound to (a new one if the cookie is absent)."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if len(nonce) < 16 or len(nonce) > 64 or not nonce.isascii():
        nonce = secrets.token_urlsafe(16)
    return nonce


def remember_login(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def login_csrf(request: Request, nonce: str) -> str:
    return _mac(secret(request), "login", nonce)


def login_csrf_ok(request: Request, given: str) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    return bool(nonce and given) and hmac.compare_digest(given, login_csrf(request, nonce))
