"""The escalation of an unacknowledged urgent alert: the `note` its card carries when it is
queued again (see scheduler/alert_jobs.py for when).

(The protocol-timing branch grows this module into the escalation clock itself.)
"""

from __future__ import annotations

RESENT = "resent"  # the card again, to the site's alert chat
ESCALATED = "escalated"  # the card to the site's escalation chat
