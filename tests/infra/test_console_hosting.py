"""The console's hosting: a private bucket behind CloudFront, /admin/* forwarded to the API, the
build deployed with its config.json, and a clean synth when console/dist was never built."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_apigateway as apigateway

from infra.cdp_infra import constants
from infra.cdp_infra.console_hosting import CONFIG, CONTENT_SECURITY_POLICY, ConsoleHosting

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # AWS managed cache policy ids
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def _hosting(tmp_path: Path, dist: Path) -> tuple[cdk.App, ConsoleHosting, assertions.Template]:
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Host", env=cdk.Environment(region="ap-northeast-1"))
    api = apigateway.RestApi(stack, "Api", deploy_options=apigateway.StageOptions(stage_name=constants.API_STAGE))
    api.root.add_resource("admin").add_method("GET", apigateway.MockIntegration())
    hosting = ConsoleHosting(stack, "Console", api=api, dist_dir=dist)
    return app, hosting, assertions.Template.from_stack(hosting)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><script type=module src=./assets/index-abc.js></script>")
    (dist / "assets" / "index-abc.js").write_text("console.log(1)")
    return dist


def _staged_files(app: cdk.App, name: str) -> list[Path]:
    outdir = Path(app.synth().directory)
    return sorted(path for path in outdir.rglob(name) if path.is_file())


def test_the_bucket_is_private_and_only_cloudfront_reads_it(tmp_path: Path, built: Path) -> None:
    _, _, template = _hosting(tmp_path, built)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": assertions.Match.any_value(),
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    )
    template.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    policy = json.dumps(template.find_resources("AWS::S3::BucketPolicy"))
    assert "cloudfront.amazonaws.com" in policy and "AWS:SourceArn" in policy  # OAC, not a public read
    assert '"aws:SecureTransport": "false"' in policy


def test_cloudfront_serves_the_app_over_https_and_forwards_the_admin_api(tmp_path: Path, built: Path) -> None:
    _, _, template = _hosting(tmp_path, built)
    config = next(iter(template.find_resources("AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"
    ]
    assert config["DefaultRootObject"] == "index.html"
    default = config["DefaultCacheBehavior"]
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["CachePolicyId"] == CACHING_OPTIMIZED
    assert default["FunctionAssociations"][0]["EventType"] == "viewer-request"
    [api] = config["CacheBehaviors"]
    assert api["PathPattern"] == "/admin/*"
    assert api["ViewerProtocolPolicy"] == "https-only"
    assert api["CachePolicyId"] == CACHING_DISABLED  # answers carry personal data: never cached
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER  # the bearer token reaches the API
    assert set(api["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    api_origin = origins[api["TargetOriginId"]]
    assert api_origin["OriginPath"] == f"/{constants.API_STAGE}"
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert "execute-api" in json.dumps(api_origin["DomainName"])
    assert "S3OriginConfig" in origins[default["TargetOriginId"]]
    # The same security headers on the app and the API answers.
    assert default["ResponseHeadersPolicyId"] == api["ResponseHeadersPolicyId"]


def test_security_headers_and_the_spa_fallback(tmp_path: Path, built: Path) -> None:
    _, _, template = _hosting(tmp_path, built)
    headers = next(iter(template.find_resources("AWS::CloudFront::ResponseHeadersPolicy").values()))
    security = headers["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["ContentSecurityPolicy"]["ContentSecurityPolicy"] == CONTENT_SECURITY_POLICY
    assert "connect-src 'self'" in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 365 * 24 * 3600
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ContentTypeOptions"]["Override"] is True
    function = next(iter(template.find_resources("AWS::CloudFront::Function").values()))["Properties"]
    code = function["FunctionCode"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert "request.uri = '/index.html'" in code and "indexOf('.')" in code


def test_the_build_is_deployed_with_its_config(tmp_path: Path, built: Path) -> None:
    app, _, template = _hosting(tmp_path, built)
    deployments = template.find_resources("Custom::CDKBucketDeployment")
    by_cache = {json.dumps(d["Properties"].get("SystemMetadata", {})): d["Properties"] for d in deployments.values()}
    assert len(deployments) == 2
    [assets] = [p for key, p in by_cache.items() if "immutable" in key]
    [entry] = [p for key, p in by_cache.items() if "no-cache" in key]
    assert assets["DestinationBucketKeyPrefix"] == "assets/" and assets["Prune"] is False
    assert entry["DistributionPaths"] == ["/index.html", "/config.json"]
    assert len(entry["SourceObjectKeys"]) == 2  # config.json + the build without assets/
    entry_id = next(key for key, d in deployments.items() if d["Properties"] is entry)
    assets_id = next(key for key, d in deployments.items() if d["Properties"] is assets)
    assert assets_id in deployments[entry_id].get("DependsOn", [])  # chunks before the page that loads them
    configs = _staged_files(app, "config.json")
    for path in configs:
        # The user pool's hosted sign-in and app client are filled in at deploy time: each marker
        # becomes a JSON string (quotes included).
        written = json.loads(re.sub(r"<<marker:0xbaba:\d+>>", '"deploy-time"', path.read_text()))
        assert {key: value for key, value in written.items() if key != "signIn"} == CONFIG
        assert set(written["signIn"]) == {"url", "clientId"}
    assert configs


def test_an_unbuilt_console_synthesizes_with_a_warning(tmp_path: Path) -> None:
    app, hosting, template = _hosting(tmp_path, tmp_path / "never-built")
    [deployment] = template.find_resources("Custom::CDKBucketDeployment").values()
    assert len(deployment["Properties"]["SourceObjectKeys"]) == 2  # config.json + the notice page
    parent = cdk.Stack.of(hosting.node.scope)  # a nested stack's annotations are its parent's
    warnings = assertions.Annotations.from_stack(parent).find_warning(
        "*", assertions.Match.string_like_regexp("make console")
    )
    assert warnings
    pages = _staged_files(app, "index.html")
    assert pages and "not built" in pages[0].read_text()


def test_the_stack_hosts_the_console_in_a_nested_stack(synth: Any) -> None:
    assert synth.error is None  # cdk-nag: every finding of the hosting is acknowledged with a reason
    nested = [
        logical_id
        for logical_id, resource in synth.template["Resources"].items()
        if resource["Type"] == "AWS::CloudFormation::Stack" and logical_id.startswith(constants.CONSOLE_ID)
    ]
    assert len(nested) == 1  # the console's own (other concerns have nested stacks of their own)
    assert "ConsoleUrl" in synth.template["Outputs"]
    [path] = list(synth.outdir.glob("*Console*.nested.template.json"))
    template = json.loads(path.read_text())
    assert {"AWS::CloudFront::Distribution", "AWS::S3::Bucket"} <= {r["Type"] for r in template["Resources"].values()}
