"""The `ntd-monitor` command line: one module per command group, each command a thin shell
(monitor.cli.main assembles them; monitor.cli.common holds the state and error mapping).

May import anything except monitor.sim (the simulation contributes its commands through the
`ntd_monitor.commands` entry point group).
"""
