"""Scores and their certainty: metrics, AU thresholds, baselines, intervals, verdicts."""
