"""The pure core: outcomes and their classification, timelines, schedules, the clock, URLs,
config types and rules, the SSRF guard's registries, order compliance and the evidence chain's
encoding. Pure functions over typed records; no I/O beyond reading a config file.

May import: the standard library, third-party libraries, `hashes`. Nothing else of ours.
"""
