"""Shared helpers (model complexity, seeding)."""
