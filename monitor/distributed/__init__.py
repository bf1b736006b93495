"""Distributed mode's Redis plumbing: connecting (with retries across a Redis restart), the key
layout and message formats, and the per-hoster queue leases workers hold.

The flow (the jobs themselves are in monitor.runners): `crawl --redis URL --enqueue` pushes due
checks and watch scans as JSON onto one Redis list per hoster; `worker --redis URL` processes
lease whole hoster queues (per-hoster politeness holds across workers), crawl them and add every
observation to a Redis stream; `ingest --redis URL` writes batches into SQLite and acknowledges
entries only after the commit.

May import: monitor.store, monitor.core.
"""
