"""Access in the cloud: per-route throttling of the public routes, the service tokens' grant, and
the user directory (an Amazon Cognito user pool with one group per role and its hosted sign-in),
a nested stack of its own (the main stack is near CloudFormation's 500-resource limit).

Throttling is a stage setting (MethodSettings): it adds no resource. API Gateway answers a request
over the limit with 429 `throttled` (infra/cdp_infra/api_responses.py) before any function runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Aws, CfnOutput, Duration, Fn, NestedStack, RemovalPolicy, Token, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from cdp import settings
from cdp.access.principal import ROLES
from constructs import Construct

from infra.cdp_infra.routes import INGEST, LINE_WEBHOOK, LINK_REDIRECT, Route


@dataclass(frozen=True, slots=True)
class Throttle:
    rate: int  # requests per second, steady state (token bucket refill)
    burst: int  # requests at once (bucket size)


# Per method of each public route, below the stage-wide default (constants.API_THROTTLE_*), so one
# flooded public route cannot use the whole account's API Gateway quota. docs/access.md explains
# the numbers: LINE webhooks arrive at a channel's message rate; SDK batches carry up to 500 KB of
# events each; a tracked-link click is one request per person; unsubscribing is rare.
PUBLIC_THROTTLES: dict[str, Throttle] = {
    LINE_WEBHOOK: Throttle(rate=500, burst=1000),
    INGEST: Throttle(rate=300, burst=600),
}
REDIRECT_THROTTLE = Throttle(rate=200, burst=400)  # GET /r/{code}
UNSUBSCRIBE_THROTTLE = Throttle(rate=20, burst=40)  # GET and POST /u/{token}


def public_throttle(route: Route) -> Throttle | None:
    """The limit of one public route's method; None for the admin routes (stage default)."""
    if route.function == LINK_REDIRECT:
        return UNSUBSCRIBE_THROTTLE if route.path.startswith("/u/") else REDIRECT_THROTTLE
    return PUBLIC_THROTTLES.get(route.function)


def method_throttling(routes: tuple[Route, ...]) -> dict[str, apigateway.MethodDeploymentOptions]:
    """Stage method settings (`<resource path>/<METHOD>`) for every public route."""
    options = {}
    for route in routes:
        limit = public_throttle(route)
        if limit is not None:
            options[f"{route.path}/{route.method}"] = apigateway.MethodDeploymentOptions(
                throttling_rate_limit=limit.rate, throttling_burst_limit=limit.burst
            )
    return options


# --- the user directory ----------------------------------------------------------------------
USERS_ID = "Users"
# The nested stack's outputs the admin functions read, by name (the local stack resolves the same
# names against its own user pool: infra/local/users.py).
OUTPUT_ISSUER = "UserPoolIssuer"
OUTPUT_CLIENT_ID = "UserPoolClientId"
OUTPUT_HOSTED_UI = "HostedUiUrl"
OUTPUT_POOL_ID = "UserPoolId"
ID_TOKEN_HOURS = 1  # a signed-in person is asked again after an hour (no refresh in the console)


class UserDirectory(Construct):
    """People who use the console: an Amazon Cognito user pool (no self sign-up: admins invite),
    one group per role (`viewer`, `marketer`, `admin`: the highest group wins), a hosted sign-in
    domain and the console's app client (public, no secret; the hosted UI hands the console an ID
    token, which the admin functions verify against the pool's JWKS).

    It lives in the console's nested stack (`scope`): the app client's callback is the console's
    own URL, the console's config.json names the client, and the main stack, near CloudFormation's
    500-resource limit, gains nothing. Its outputs carry fixed names (`OUTPUT_*`)."""

    def __init__(self, scope: NestedStack, construct_id: str, *, console_url: str) -> None:
        super().__init__(scope, construct_id)
        self._stack = scope
        pool = cognito.UserPool(
            self,
            "Pool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_digits=True, require_lowercase=True, require_uppercase=True, require_symbols=True
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=RemovalPolicy.RETAIN,  # people's accounts outlive a stack replacement
        )
        for precedence, role in enumerate(reversed(ROLES)):  # admin first: Cognito's precedence
            cognito.CfnUserPoolGroup(
                self,
                f"{role.title()}Group",
                user_pool_id=pool.user_pool_id,
                group_name=role,
                precedence=precedence,
                description=f"CDP role: {role}",
            )
        domain = pool.add_domain(
            "HostedUi",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=Fn.join("-", ["line-cdp", Aws.ACCOUNT_ID, Aws.REGION])
            ),
        )
        callback = f"{console_url}/"
        client = pool.add_client(
            "Console",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                # The console is a static page: the hosted UI returns the ID token in the URL fragment.
                flows=cognito.OAuthFlows(implicit_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[callback],
                logout_urls=[callback],
            ),
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(ID_TOKEN_HOURS),
            access_token_validity=Duration.hours(ID_TOKEN_HOURS),
        )
        self.client_id = client.user_pool_client_id
        self.hosted_ui_url = domain.base_url()
        CfnOutput(scope, OUTPUT_POOL_ID, value=pool.user_pool_id)
        CfnOutput(scope, OUTPUT_ISSUER, value=f"https://cognito-idp.{Aws.REGION}.{Aws.URL_SUFFIX}/{pool.user_pool_id}")
        CfnOutput(scope, OUTPUT_CLIENT_ID, value=client.user_pool_client_id)
        CfnOutput(scope, OUTPUT_HOSTED_UI, value=self.hosted_ui_url)
        Validations.of(self).acknowledge(
            Acknowledgment(
                id="AwsSolutions-COG2",
                reason="MFA is optional (TOTP) so a brand can roll it out; docs/access.md recommends requiring it.",
            ),
            Acknowledgment(
                id="AwsSolutions-COG3",
                reason="Threat protection (Plus feature plan) is a paid option an operator can turn on.",
            ),
            Acknowledgment(
                id="AwsSolutions-COG8",
                reason="The Essentials plan covers the hosted sign-in and groups; Plus is the operator's choice.",
            ),
        )

    def output(self, name: str) -> str:
        """One of the outputs above, as the parent stack reads it."""
        resource = self._stack.nested_stack_resource
        assert resource is not None, "the user directory lives in a nested stack"
        return Token.as_string(resource.get_att(f"Outputs.{name}"))

    def wire_admin_functions(self, *functions: lambda_.Function) -> None:
        """The admin functions accept this pool's ID tokens (cdp.access.user_tokens)."""
        for function in functions:
            function.add_environment(settings.ENV_USER_POOL_ISSUER, self.output(OUTPUT_ISSUER))
            function.add_environment(settings.ENV_USER_POOL_CLIENT_ID, self.output(OUTPUT_CLIENT_ID))
