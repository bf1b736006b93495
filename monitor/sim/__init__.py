"""The simulated hoster world on loopback: hosters, a CDN, Team Cymru-style DNS, alert receivers,
a private redis-server, the truth the world knows, the stepped crawl and the demo.

For tests, the demo and benchmarks only. May import anything of ours; nothing outside monitor.sim
and the tests imports it (an import-linter contract); its commands (`sim`, `demo`) reach the
command line through the `ntd_monitor.commands` entry point group.
"""
