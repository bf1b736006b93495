"""The demo: one simulated world run end to end through the real job (imports, crawls,
alerts, orders, reports), printed against the truth the world knows.

Part of monitor.sim: may import anything; nothing outside monitor.sim and tests imports it.
"""
