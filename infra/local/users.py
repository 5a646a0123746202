"""Console users on the local stack: the template's user pool (infra/cdp_infra/access.py) made on
moto's Cognito, with one user per role, and a stand-in for the hosted sign-in.

The admin functions see what they see in the cloud: a pool issuer and app client id (the nested
stack's outputs, resolved here) and ID tokens signed by the pool, whose keys moto publishes at
`<endpoint>/<pool id>/.well-known/jwks.json`. Only the sign-in page differs: moto has no hosted
UI, so `/_local/users/oauth2/authorize` asks for a user name and password and redirects back with
the ID token in the fragment, as Cognito's implicit grant does.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cdp.access.principal import ROLES

from infra.cdp_infra.access import OUTPUT_CLIENT_ID, OUTPUT_HOSTED_UI, OUTPUT_ISSUER, OUTPUT_POOL_ID
from infra.local.config import REGION
from infra.local.http_gateway import LocalPage, LocalRoute

PREFIX = "/_local/users"
# One user per role; the password is local-only (CDP_LOCAL_USER_PASSWORD overrides it).
LOCAL_USERS = {role: f"{role}@cdp.local" for role in ROLES}
DEFAULT_PASSWORD = "Local-Users-2026!"  # noqa: S105 - the local stack's published sign-in


def local_password() -> str:
    return os.environ.get("CDP_LOCAL_USER_PASSWORD", DEFAULT_PASSWORD)


@dataclass(slots=True)
class LocalUserPool:
    pool_id: str
    client_id: str
    endpoint: str
    cognito: Any

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.pool_id}/.well-known/jwks.json"

    def outputs(self, sign_in_url: str) -> dict[str, str]:
        """The nested stack's outputs (by name) as the local stack answers them."""
        return {
            OUTPUT_POOL_ID: self.pool_id,
            OUTPUT_ISSUER: self.issuer,
            OUTPUT_CLIENT_ID: self.client_id,
            OUTPUT_HOSTED_UI: sign_in_url,
        }

    def sign_in(self, username: str, password: str) -> dict[str, Any] | None:
        """The user's ID token (None when the name or password is wrong)."""
        try:
            answer = self.cognito.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except self.cognito.exceptions.NotAuthorizedException:
            return None
        except self.cognito.exceptions.UserNotFoundException:
            return None
        result = answer["AuthenticationResult"]
        return {"idToken": result["IdToken"], "expiresIn": result["ExpiresIn"], "tokenType": "Bearer"}


def provision_user_pool(cognito: Any, name: str) -> LocalUserPool:
    """The pool, its role groups and one confirmed user per role."""
    pool_id = cognito.create_user_pool(
        PoolName=name,
        UsernameAttributes=["email"],
        Policies={
            "PasswordPolicy": {
                "MinimumLength": 12,
                "RequireUppercase": True,
                "RequireLowercase": True,
                "RequireNumbers": True,
                "RequireSymbols": True,
            }
        },
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="console",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    for role in ROLES:
        cognito.create_group(GroupName=role, UserPoolId=pool_id)
    for role, email in LOCAL_USERS.items():
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=local_password(), Permanent=True)
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=role)
    return LocalUserPool(pool_id, client_id, str(cognito.meta.endpoint_url).rstrip("/"), cognito)


class LocalUserRoutes:
    """`POST /_local/users/sign-in` ({"username", "password"} -> the ID token, for tests and
    scripts) and the hosted sign-in stand-in at `/_local/users/oauth2/authorize`."""

    def __init__(self, pool: LocalUserPool) -> None:
        self._pool = pool

    def routes(self) -> dict[tuple[str, str], LocalRoute]:
        return {
            ("POST", f"{PREFIX}/sign-in"): self._sign_in,
            ("GET", f"{PREFIX}/oauth2/authorize"): self._form,
            ("POST", f"{PREFIX}/oauth2/authorize"): self._authorize,
        }

    def _sign_in(self, _path: str, _query: dict[str, str], body: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(body or b"{}")
            username, password = str(request["username"]), str(request["password"])
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "invalid_sign_in", "message": 'send {"username": ..., "password": ...}'}
        tokens = self._pool.sign_in(username, password)
        if tokens is None:
            return 401, {"error": "invalid_credentials", "message": "wrong user name or password"}
        return 200, tokens

    def _form(self, _path: str, query: dict[str, str], _body: bytes) -> tuple[int, Any]:
        if query.get("client_id") != self._pool.client_id or not query.get("redirect_uri"):
            return 400, {"error": "invalid_request", "message": "client_id and redirect_uri are required"}
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
            if k in ("client_id", "redirect_uri", "state", "response_type", "scope")
        )
        users = ", ".join(LOCAL_USERS.values())
        page = (
            "<!doctype html><meta charset=utf-8><title>Sign in (local)</title>"
            f"<h1>Sign in</h1><p>Local users: {html.escape(users)}</p>"
            f'<form method="post">{hidden}'
            '<label>Email <input name="username" autocomplete="username" required></label> '
            '<label>Password <input name="password" type="password" autocomplete="current-password" required></label> '
            '<button type="submit">Sign in</button></form>'
        )
        return 200, LocalPage(page.encode(), {"Content-Type": ["text/html; charset=utf-8"]})

    def _authorize(self, _path: str, _query: dict[str, str], body: bytes) -> tuple[int, Any]:
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        if form.get("client_id") != self._pool.client_id or not form.get("redirect_uri"):
            return 400, {"error": "invalid_request", "message": "client_id and redirect_uri are required"}
        tokens = self._pool.sign_in(form.get("username", ""), form.get("password", ""))
        if tokens is None:
            return 401, {"error": "invalid_credentials", "message": "wrong user name or password"}
        fragment = urlencode(
            {
                "id_token": tokens["idToken"],
                "token_type": "Bearer",
                "expires_in": str(tokens["expiresIn"]),
                **({"state": form["state"]} if form.get("state") else {}),
            }
        )
        return 302, LocalPage(headers={"Location": [f"{form['redirect_uri']}#{fragment}"]})
