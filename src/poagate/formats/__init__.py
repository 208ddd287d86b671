"""Adapters from bytes to domain events and records, and back: JSON Lines, DUIS XML, CSV."""
