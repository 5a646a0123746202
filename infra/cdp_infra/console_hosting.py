"""The marketer's console in the cloud: console/dist in a private bucket behind CloudFront.

One origin for everything the browser loads: CloudFront serves the built single-page app from S3
(origin access control, the bucket stays private) and forwards `/admin/*` to the REST API's stage
unchanged (no caching, every header but Host, every method). The console therefore calls the API
on its own origin: `config.json` says `{"apiBase": ""}`, no preflight precedes each request, the
Content-Security-Policy can say `connect-src 'self'`, and the API needs no CORS entry for it.
(Answering CORS preflights at API Gateway would take one OPTIONS method per admin resource, 64
more resources in a stack near CloudFormation's 500-resource limit.)

It is a nested stack for the same reason: its dozen resources (bucket, distribution, function,
the deployment's custom resource and its Lambda) count as one in the main stack.

A synth on a fresh clone, where `npm` has not built console/dist (the CDK tests, `cdk synth`
without `make`), still works: the site then holds only `config.json` and a page saying the
console was not built, and the synth warns. `make synth` and `make deploy` build it first.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import Acknowledgment, Annotations, Aws, Duration, NestedStack, RemovalPolicy, Token, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.cdp_infra import constants
from infra.cdp_infra.access import USERS_ID, UserDirectory

CONSOLE_DIST = constants.REPO_ROOT / "console" / "dist"
API_PATH_PATTERN = "/admin/*"
CONFIG = {"apiBase": ""}  # the console's config.json: the API is on the console's own origin
# Vite names every asset by its content hash: cache for a year. index.html and config.json are
# revalidated on every load, so a deploy is visible at once.
ASSETS_CACHE = "public, max-age=31536000, immutable"
ENTRY_CACHE = "no-cache"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",  # QR codes are shown from blob: URLs
        "connect-src 'self'",  # the API is on this origin (/admin/*)
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
NOT_BUILT_PAGE = (
    "<!doctype html><meta charset=utf-8><title>LINE CDP</title>"
    "<p>The console was not built when this stack was synthesized: run <code>make deploy</code> "
    "(it runs <code>make console</code> first).</p>"
)
# Paths without a file extension are the app's own routes: answer them with index.html, so a
# reload or a shared link opens the app (the app routes by the URL's hash; this keeps old links).
SPA_FALLBACK = """function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  if (last === '' || last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}"""


class ConsoleHosting(NestedStack):
    """Private bucket + CloudFront (HTTPS only, security headers, SPA fallback) + the deployment of
    console/dist with a generated config.json; `/admin/*` goes to `api`'s stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigateway.RestApi,
        dist_dir: Path = CONSOLE_DIST,
    ) -> None:
        super().__init__(scope, construct_id, description="LINE CDP marketer's console (S3 + CloudFront)")
        self.bucket = s3.Bucket(
            self,
            "Site",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            removal_policy=RemovalPolicy.DESTROY,  # rebuilt from the repository on every deploy
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="LINE CDP console: security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=CONTENT_SECURITY_POLICY, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
        )
        fallback = cloudfront.Function(
            self,
            "SpaFallback",
            code=cloudfront.FunctionCode.from_inline(SPA_FALLBACK),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="LINE CDP console: app routes answer index.html",
        )
        api_origin = origins.HttpOrigin(
            f"{api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}",
            origin_path=f"/{constants.API_STAGE}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            read_timeout=Duration.seconds(30),  # API Gateway answers or gives up within 29 s
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="LINE CDP marketer's console",
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_200,  # includes Taiwan and Japan edges
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                compress=True,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=fallback, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            additional_behaviors={
                API_PATH_PATTERN: cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    # The bearer token, query strings and bodies reach the API; Host must stay the API's.
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=headers,
                    compress=True,
                )
            },
        )
        self.url = f"https://{self.distribution.distribution_domain_name}"
        # The people who sign in to the console, and their roles (infra/cdp_infra/access.py).
        self.users = UserDirectory(self, USERS_ID, console_url=self.url)
        self._deploy(dist_dir)
        self._acknowledge()

    def _deploy(self, dist_dir: Path) -> None:
        # The hosted sign-in the console sends people to, and its app client.
        sign_in = {"url": self.users.hosted_ui_url, "clientId": self.users.client_id}
        config = s3deploy.Source.json_data("config.json", {**CONFIG, "signIn": sign_in})
        built = (dist_dir / "index.html").is_file()
        if not built:
            Annotations.of(self).add_warning_v2(
                "cdp:console-not-built",
                f"{dist_dir} has no index.html: the console site will only say so. Run `make console` "
                "before `cdk deploy` (`make deploy` does).",
            )
        entry_sources = [config]
        if built:
            assets = s3deploy.BucketDeployment(
                self,
                "Assets",
                sources=[s3deploy.Source.asset(str(dist_dir / "assets"))],
                destination_bucket=self.bucket,
                destination_key_prefix="assets/",
                cache_control=[s3deploy.CacheControl.from_string(ASSETS_CACHE)],
                prune=False,  # pages already open keep loading the chunks of their build
                memory_limit=256,
            )
            entry_sources.append(s3deploy.Source.asset(str(dist_dir), exclude=["assets", "assets/**"]))
        else:
            assets = None
            entry_sources.append(s3deploy.Source.data("index.html", NOT_BUILT_PAGE))
        entry = s3deploy.BucketDeployment(
            self,
            "Entry",
            sources=entry_sources,
            destination_bucket=self.bucket,
            cache_control=[s3deploy.CacheControl.from_string(ENTRY_CACHE)],
            prune=False,
            distribution=self.distribution,
            distribution_paths=["/index.html", "/config.json"],
            memory_limit=256,
        )
        if assets is not None:
            entry.node.add_dependency(assets)  # a new index.html only once its chunks are there

    def _deployment_wildcards(self) -> list[str]:
        """The wildcard grants aws-cdk-lib gives BucketDeployment's role, as cdk-nag names them."""
        site = self.get_logical_id(cast(s3.CfnBucket, self.bucket.node.default_child))
        region = "<AWS::Region>" if Token.is_unresolved(self.region) else self.region
        account = "<AWS::AccountId>" if Token.is_unresolved(self.account) else self.account
        return [
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
            "Action::s3:Abort*",
            "Action::s3:DeleteObject*",
            f"Resource::<{site}.Arn>/*",
            f"Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-{account}-{region}/*",
            "Resource::*",
        ]

    def _acknowledge(self) -> None:
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason=(
                    "The bucket holds the console's built static files only (no data); every read goes "
                    "through CloudFront, and the API calls behind it are logged by API Gateway."
                ),
            )
        )
        Validations.of(self.distribution).acknowledge(
            Acknowledgment(
                id="AwsSolutions-CFR1",
                reason="Marketers sign in from wherever they work; the admin token guards the data.",
            ),
            Acknowledgment(
                id="AwsSolutions-CFR2",
                reason="A WAF web ACL can be associated by operators who need IP or bot rules (as for the API).",
            ),
            Acknowledgment(
                id="AwsSolutions-CFR3",
                reason="Static files only; API requests through /admin/* are in API Gateway's access log.",
            ),
            Acknowledgment(
                id="AwsSolutions-CFR4",
                reason=(
                    "The default *.cloudfront.net certificate cannot pin TLS 1.2 as the viewer minimum; "
                    "a deployment that adds its own domain and certificate should set TLSv1.2_2021."
                ),
            ),
        )
        # BucketDeployment's Lambda and role come from aws-cdk-lib (copying files into the bucket).
        Validations.of(self).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                reason="aws-cdk-lib's BucketDeployment function: the AWS-managed logging policy only.",
            ),
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[{finding}]",
                    reason=(
                        "aws-cdk-lib's BucketDeployment function reads the build from the CDK assets bucket, "
                        "writes it into this bucket and invalidates this distribution (CreateInvalidation "
                        "takes no resource-level permission)."
                    ),
                )
                for finding in self._deployment_wildcards()
            ),
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="aws-cdk-lib's BucketDeployment function: its runtime is chosen by aws-cdk-lib.",
            ),
        )
