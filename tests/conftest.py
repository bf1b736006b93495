"""Shared pytest set-up: the hoster world's fixtures come from monitor.sim's plugin."""

pytest_plugins = ["monitor.sim.pytest_plugin"]
