"""Journeys: multi-step flows on Step Functions (docs/journeys.md)."""
