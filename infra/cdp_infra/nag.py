"""How cdk-nag prints resources in its finding ids, for acknowledgements that name an ARN."""

from __future__ import annotations

from aws_cdk import Stack, Token
from constructs import Construct


def arn_prefix(scope: Construct, service: str) -> str:
    """`arn:<AWS::Partition>:<service>:<region>:<account>:` as cdk-nag prints it: a stack with an
    `env` (deploy settings) has a literal region and maybe account, else the pseudo parameters."""
    stack = Stack.of(scope)
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return f"arn:<AWS::Partition>:{service}:{region}:{account}:"
