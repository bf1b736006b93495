"""Item pipelines: the writer a runner passes to a spider (WriterPipeline; the Redis stream's
StreamWriter) and re-upload matching of seen images.

Part of spiders (see spiders/__init__.py for what it may import).
"""
