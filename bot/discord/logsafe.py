"""Keep the bot token out of every log line.

Neither discord.py nor newsbot logs the token (a test runs the bot at DEBUG and checks), but a
library exception message or a future debug line could; this filter is the safety net. It sits
on the handlers (filters on a logger do not apply to records from its children) and rewrites
the message, the arguments and any traceback text before a handler formats them.
"""

from __future__ import annotations

import logging

REDACTED = "[token redacted]"


class TokenRedactor(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secret:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the handler's problem, not ours
            return True
        if self.secret in message:
            record.msg = message.replace(self.secret, REDACTED)
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.secret in record.exc_text:
            record.exc_text = record.exc_text.replace(self.secret, REDACTED)
        if record.stack_info and self.secret in record.stack_info:
            record.stack_info = record.stack_info.replace(self.secret, REDACTED)
        return True


def install_token_redaction(secret: str, logger: logging.Logger | None = None) -> TokenRedactor:
    """Add the redactor to every handler of ``logger`` (default: the root logger)."""
    redactor = TokenRedactor(secret)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(redactor)
    return redactor
