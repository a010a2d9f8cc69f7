"""segfw's errors: a user's mistake in a config or in data on disk, and the one line a tool prints for it.

``ConfigError`` and ``BadSampleError`` are the user errors: a tool prints their message as one line
(see :mod:`segfw.cli`); any other exception is a bug and keeps its traceback.

A DataLoader worker re-raises a sample's exception in the main process as the same type, but with
the whole worker traceback as its message. :func:`original_message` recovers the original line, so
``str(BadSampleError)`` is always the clean one-line message, in the main process or from a worker.
"""

from __future__ import annotations

from dataclasses import dataclass


def original_message(text: str) -> str:
    """The message an exception had before a DataLoader worker wrapped it ("Caught X in DataLoader ...")."""
    if not (text.startswith("Caught ") and "Original Traceback" in text):
        return text
    last = text.rstrip().splitlines()[-1]  # "package.module.ErrorType: the original message"
    _, separator, message = last.partition(": ")
    return message if separator else last


class ConfigError(ValueError):
    """A configuration names something that does not exist or is invalid; the message says what and the fix."""


class BadSampleError(ValueError):
    """A sample or dataset layout on disk cannot be used; the one-line message names the file and the fix."""

    def __init__(self, message: str):
        super().__init__(original_message(str(message)))


USER_ERRORS = (ConfigError, BadSampleError)  # printed as one line by the tools; anything else is a bug


@dataclass(frozen=True)
class SkippedSample:
    """Returned by a dataset in place of a bad sample when ``on_bad_sample="skip"``; the loader drops it."""

    message: str


def one_line(error: BaseException) -> str:
    """One line describing ``error``, also when it was raised inside a DataLoader worker."""
    message = original_message(str(error)).strip()
    first = message.splitlines()[0] if message else type(error).__name__
    return first

