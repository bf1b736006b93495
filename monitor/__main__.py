"""`python -m monitor` is the `ntd-monitor` command."""

from monitor.cli.main import main

main()
