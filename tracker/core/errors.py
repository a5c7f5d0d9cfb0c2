"""The project's one exception family. str(error) is the whole message a user sees."""

from __future__ import annotations


class TrackerError(Exception):
    """A failure the user can fix."""

    exit_code = 1
    http_status = 400


class InvalidInput(TrackerError):
    """Bad YAML/ICS/option content; the message names file:line: field: problem."""


class NotFound(TrackerError):
    http_status = 404


class NotSignedIn(TrackerError):
    """The web asks for a signed-in person (pages send the browser to the sign-in page instead)."""

    http_status = 401


class Forbidden(TrackerError):
    """The signed-in person's role does not allow this (register.access): refused on the server, whatever the page
    showed."""

    http_status = 403


class TooManyAttempts(TrackerError):
    """Sign-in refused for a while after too many failures (per account and per client address)."""

    http_status = 429
    retry_after = 60


class Conflict(TrackerError):
    http_status = 409


class Stale(TrackerError):
    """A change made against a version that is no longer the current one (HTTP If-Match)."""

    http_status = 412


class ConfigError(TrackerError):
    exit_code = 2


class Busy(TrackerError):
    """The database stayed locked by another writer for longer than the timeout: try again shortly."""

    http_status = 503
    retry_after = 5  # seconds, for the Retry-After header


class Unavailable(TrackerError):
    """The database cannot be used right now (the server went away, the disk is full): not the user's input."""

    http_status = 503
    retry_after = 30
