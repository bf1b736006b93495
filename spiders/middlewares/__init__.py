"""Downloader middlewares: the SSRF guard on every request and redirect.

Part of spiders (see spiders/__init__.py for what it may import).
"""
