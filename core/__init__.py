"""Data, dual-head models and one-config training for facial-expression CNNs. Never imports Ray."""
