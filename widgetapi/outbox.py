"""The mail outbox: each mail to send is a row, written in the same transaction as what it is
about, and deleted once a server accepted it.

Sending processes claim a due mail with a conditional UPDATE (still unclaimed, or its claim
expired) that one process alone can win, on PostgreSQL as on SQLite (where the write lock
serialises it): two processes never send the same mail. A claim lasts long enough for a whole
delivery (see mail.DELIVERY_TIMEOUTS); when the process that holds it dies, the claim runs out
and another process sends the mail.

A row says what to send (`kind`, `recipient`), not the mail itself: a password-reset mail is
composed, and its token minted, when it is delivered (widgetapi/recovery.py).
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import cast

import peewee

from widgetapi.models import BaseModel, register
from widgetapi.timeutil import utcnow

# Mail is retried for this long after it was queued, then dropped (with a log line).
GIVE_UP_AFTER = timedelta(hours=24)
LONGEST_RETRY_DELAY = timedelta(hours=1)
CANDIDATES = 5


class OutboxMail(BaseModel):
    kind = peewee.CharField(max_length=32)
    recipient = peewee.CharField(max_length=254)
    queued_at = peewee.DateTimeField(default=utcnow)
    due_at = peewee.DateTimeField(default=utcnow, index=True)
    attempts = peewee.IntegerField(default=0)
    # Who is sending it (a random id per claim) and until when the claim holds.
    claim = peewee.CharField(max_length=32, null=True)
    claimed_until = peewee.DateTimeField(null=True)
    last_error = peewee.CharField(max_length=500, null=True)

    class Meta:
        table_name = "mail_outbox"

    @classmethod
    def queue(cls, kind: str, recipient: str) -> OutboxMail:
        """Queue a mail (in the caller's transaction, if any)."""
        return cast(OutboxMail, cls.create(kind=kind, recipient=recipient))

    @classmethod
    def claim_next(cls, lease: timedelta) -> OutboxMail | None:
        """Claim the next due mail for `lease`, or None when none is due (or others hold them)."""
        now = utcnow()
        free = cls.claimed_until.is_null() | (cls.claimed_until < now)
        candidates = [row.id for row in cls.select(cls.id).where((cls.due_at <= now) & free)
                      .order_by(cls.due_at, cls.id).limit(CANDIDATES)]
        for mail_id in candidates:
            claim = secrets.token_hex(16)
            # The condition is checked again by the UPDATE itself: of processes that read the same
            # candidate, one updates it, the others update nothing (PostgreSQL re-reads the row
            # once the winner commits; SQLite runs one writer at a time).
            won = cls.update(claim=claim, claimed_until=now + lease).where((cls.id == mail_id) & free)
            if won.execute():
                return cast("OutboxMail | None", cls.get_or_none((cls.id == mail_id) & (cls.claim == claim)))
        return None

    def sent(self) -> bool:
        """Forget a mail that was sent (or needs no sending); False if the claim was lost."""
        mine = (OutboxMail.id == self.id) & (OutboxMail.claim == self.claim)
        return OutboxMail.delete().where(mine).execute() > 0

    def retry_later(self, error: str, first_delay: float) -> timedelta | None:
        """Try again after a delay that doubles with each attempt (at most an hour); None when
        the mail is past GIVE_UP_AFTER, and then it is dropped."""
        now = utcnow()
        delay = min(timedelta(seconds=first_delay) * 2 ** min(self.attempts, 20), LONGEST_RETRY_DELAY)
        mine = (OutboxMail.id == self.id) & (OutboxMail.claim == self.claim)
        if now + delay > self.queued_at + GIVE_UP_AFTER:
            OutboxMail.delete().where(mine).execute()
            return None
        OutboxMail.update(attempts=OutboxMail.attempts + 1, due_at=now + delay, claim=None,
                          claimed_until=None, last_error=error[:500]).where(mine).execute()
        return delay

    @classmethod
    def seconds_to_next(cls) -> float:
        """How long until a mail is due, or a claim on one runs out (inf: none queued)."""
        later = peewee.Case(None, [(cls.claimed_until > cls.due_at, cls.claimed_until)], cls.due_at)
        soonest = cls.select(peewee.fn.MIN(later)).scalar()
        if soonest is None:
            return float("inf")
        if isinstance(soonest, str):  # SQLite hands back a computed datetime as text
            soonest = datetime.fromisoformat(soonest)
        return max(0.0, (soonest - utcnow()).total_seconds())


register(OutboxMail)
