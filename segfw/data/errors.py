"""The one error type for unusable data on disk."""


class BadSampleError(ValueError):
    """A sample or dataset layout on disk cannot be used; the message names the file and the fix."""
