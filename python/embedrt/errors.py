"""Exceptions raised by embedrt: one class per category of the C++ library's errors.

Every class derives from :class:`Error` and carries the library's one-line message (naming the
file, field or text index that was wrong) and the category as ``code``.
"""

__all__ = ["Error", "InvalidArgumentError", "InputTooLongError", "InvalidModelError",
           "UnsupportedError", "EmbedrtIOError", "InternalError"]


class Error(Exception):
    """Base class of every error embedrt raises."""

    code = "error"


class InvalidArgumentError(Error, ValueError):
    """A caller-supplied option or value is out of range (also a ValueError)."""

    code = "invalid_argument"


class InputTooLongError(InvalidArgumentError):
    """A text exceeds the maximum length and ``on_overflow="error"``."""

    code = "input_too_long"


class InvalidModelError(Error):
    """A model file is missing, malformed or inconsistent."""

    code = "invalid_model"


class UnsupportedError(Error):
    """The model uses a component embedrt does not implement."""

    code = "unsupported"


class EmbedrtIOError(Error, OSError):
    """Reading or writing a file failed, or the model was not found (also an OSError)."""

    code = "io"


class InternalError(Error):
    """A defect in embedrt or a failure inside one of its dependencies."""

    code = "internal"
