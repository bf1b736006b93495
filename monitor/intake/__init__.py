"""Imports: reported URLs, hash lists, hosters and removal orders, validated row by row
(file:line errors, control characters refused, idempotent).

May import: monitor.store, monitor.core, hashes.
"""
