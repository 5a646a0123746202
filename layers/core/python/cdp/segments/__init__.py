"""Segments: a JSON rule language, a Python evaluator and a SQL compiler over one AST."""

from cdp.segments.evaluate import EventFact, ProfileFacts, evaluate
from cdp.segments.rules import Rule, RuleReads, parse_rule, reads, rule_schema
from cdp.segments.sql import to_select, to_sql

__all__ = [
    "EventFact",
    "ProfileFacts",
    "Rule",
    "RuleReads",
    "evaluate",
    "parse_rule",
    "reads",
    "rule_schema",
    "to_select",
    "to_sql",
]
