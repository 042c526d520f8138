"""The demo's email backend: one log line per email (its subject and recipients), not the
whole MIME message the console backend prints."""

import logging

from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("dashboard.mail")


class OneLineEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            recipients = ", ".join(message.recipients())
            logger.info("Email sent: %s -> %s", " ".join(message.subject.splitlines()), recipients)
        return len(email_messages)
