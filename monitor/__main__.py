"""`python -m monitor` is the `ntd-monitor` command."""

from monitor.cli import main

main()
