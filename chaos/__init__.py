"""Fault injection under load: `make chaos` (see docs/CHAOS.md)."""
