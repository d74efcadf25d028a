"""Campaigns: one-off, scheduled and recurring sends to a segment, with A/B tests and holdouts."""
