"""Data sources (CK+, CSV manifests, the built-in set), records, the split, the shared arrays."""
