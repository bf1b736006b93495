"""Re-upload and reappearance alerts to hosters: a transactional outbox drained by webhook
(Standard Webhooks, signed JSON) and e-mail (plain text plus XARF v4). See docs/alerts.md.

    outbox.record_reupload / record_reappearance   write re-upload rows and alerts
    deliver.send_pending / send_pending_sync       deliver due alerts (DeliveryStats)
    views.alert_rows / send_summary                what `alerts list` and `alerts send` show

May import: monitor.attribution (routing through a CDN), monitor.store, monitor.core, hashes.
"""
