"""Campaigns: a message to a segment's people, now, at a set time or on a schedule (docs/campaigns.md)."""
