"""The team: staff goals, progress, reports and recognition."""
