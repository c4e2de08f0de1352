"""Reproducible benchmarks for fastapi-flare; ``python -m benchmarks.run_all`` runs them all."""
