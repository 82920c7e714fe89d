"""Benchmarks of charword (python -m bench.<name>)."""
