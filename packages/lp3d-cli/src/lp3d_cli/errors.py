"""User errors and how they reach the terminal: one line, exit code 2, no traceback.

A *user error* is anything the person at the keyboard can fix: a missing file, a view name that
matches no file, a bad option value. The commands raise :class:`UserError` for what they check
themselves; :class:`ValueError` and :class:`OSError` from lp3d-io and lp3d-eks carry one-line
messages of the same kind ("expected X, but got Y") and are shown the same way. Anything else is
a bug and is reported as an internal error (exit code 1). ``--debug`` shows the traceback of both.
"""

from __future__ import annotations

__all__ = ["UserError", "EXIT_USER_ERROR", "EXIT_INTERNAL_ERROR", "is_user_error", "one_line"]

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


class UserError(ValueError):
    """Something the user can fix; the message says what is wrong and what was expected."""


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is shown as a user error (one line, exit code 2) rather than a bug."""
    return isinstance(err, ValueError | OSError)


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (OS errors name the file they are about)."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        text = f"{err.filename}: {err.strerror}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())
