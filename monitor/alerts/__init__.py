"""Re-upload and reappearance alerts to hosters: a transactional outbox drained by webhook
(signed JSON) and e-mail (plain text plus XARF v4). See docs/alerts.md.

    record_reupload / record_reappearance   write re-upload rows and alerts (outbox)
    send_pending / send_pending_sync        deliver due alerts (DeliveryStats)
    alert_rows / send_summary               what `alerts list` and `alerts send` show
"""

from monitor.alerts.deliver import DeliveryStats, Rendered, send_pending, send_pending_sync
from monitor.alerts.outbox import (
    ReappearanceResult,
    ReuploadResult,
    record_reappearance,
    record_reupload,
)
from monitor.alerts.policy import DeliveryPolicy
from monitor.alerts.views import COLUMNS, alert_rows, send_summary, table_rows

__all__ = ["COLUMNS", "DeliveryPolicy", "DeliveryStats", "ReappearanceResult", "Rendered",
           "ReuploadResult", "alert_rows", "record_reappearance", "record_reupload",
           "send_pending", "send_pending_sync", "send_summary", "table_rows"]
