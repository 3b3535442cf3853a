"""Example design proposals for ``tokenproof review`` (docs/review.md)."""
