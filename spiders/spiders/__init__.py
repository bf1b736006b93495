"""The spiders: RecheckSpider (is the reported material still served?), WatchSpider (re-uploads
on watched pages) and their Redis-fed subclasses for distributed workers.

Part of spiders (see spiders/__init__.py for what it may import).
"""
