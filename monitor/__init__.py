"""ntd-monitor: measures whether reported abuse material stays down, per hoster.

Concept packages (docs/architecture.md has the picture and the import rules): core (pure
rules), store (SQLite), attribution, intake, reuploads, alerts, distributed, runners (the jobs),
cli (the command line) and sim (the simulated world and the demo; nothing outside it imports it).
"""
