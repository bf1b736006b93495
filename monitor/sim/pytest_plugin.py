"""Fixtures of the simulated hoster world (filled in by the Hoster world work)."""
