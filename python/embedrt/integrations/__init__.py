"""Integrations of embedrt with other frameworks (each needs its framework installed)."""
