"""What every tool does around its work: one clear line for a user's mistake, exit codes for signals."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from segfw.data.errors import BadSampleError, one_line
from segfw.registry import ConfigError

USER_ERRORS = (ConfigError, BadSampleError, FileNotFoundError)


def user_errors_as_one_line(fn: Callable) -> Callable:
    """Run ``fn``; a configuration or data mistake prints ``error: <what and the fix>`` and exits 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from segfw.engine.trainer import StopRequested

        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as error:
            print(f"error: {one_line(error)}", file=sys.stderr)
            sys.exit(2)
        except StopRequested as stop:
            sys.exit(128 + int(stop.args[0]))

    return wrapper
