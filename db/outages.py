"""Database outages: the error front ends turn into "try again later", and their log: one line when
the database goes away and one when it is back, however many requests fail in between (under
load a line per failed request buried everything else: 200,000 lines in a 5 s outage)."""

import logging

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database could not be reached, or did not answer in time; the message says how."""


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Outages:
    """Whether the database is out, as far as requests can tell.

    Requests overlap, so one that began before the last change (an outage began or ended) may
    finish after it: its success or failure tells nothing new. Each request therefore names the
    `epoch` it began in, and only one of the current epoch changes the state."""

    def __init__(self) -> None:
        self.ongoing = False
        self.epoch = 0  # changes so far

    def failed(self, error: BaseException, epoch: int) -> DatabaseUnavailable:
        """Note that a request begun in `epoch` could not use the database; the error to raise."""
        if not self.ongoing and epoch == self.epoch:
            self.ongoing = True
            self.epoch += 1
            log.warning("database unavailable: %s", describe(error))
        return DatabaseUnavailable(describe(error))

    def answered(self, epoch: int) -> None:
        """Note that a request begun in `epoch` used the database."""
        if self.ongoing and epoch == self.epoch:
            self.ongoing = False
            self.epoch += 1
            # At the level of the outage's line, so that a log shows both or neither.
            log.warning("database is back")
