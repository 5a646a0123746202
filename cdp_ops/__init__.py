"""Operator tools run from a checkout against a deployed stack or the local stack."""
