"""scrapy-redis's scheduler, adapted to Scrapy 2.19.

scrapy-redis 0.9.1 (pinned: its last release) passes `spider=` to `StatsCollector.inc_value`,
which Scrapy 2.13+ deprecates and will drop; every scheduled request then warned, and a future
Scrapy would fail. This subclass counts the same stats without that argument and otherwise
leaves scrapy-redis's queueing (a Redis list per worker, pickled requests) as it is.
"""

from __future__ import annotations

from scrapy_redis.scheduler import Scheduler as _RedisScheduler


class Scheduler(_RedisScheduler):
    def enqueue_request(self, request) -> bool:
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request)
        return True

    def next_request(self):
        request = self.queue.pop(self.idle_before_close)
        if request and self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request
