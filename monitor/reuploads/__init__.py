"""Re-upload search: the index of baselines and hash lists, matching in a child process,
recording what is found (through the alert outbox), and the watch sources scanned for it.

May import: monitor.alerts, monitor.attribution, monitor.store, monitor.core, hashes.
"""
