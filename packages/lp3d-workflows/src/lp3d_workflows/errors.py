"""User errors: what a front end shows as one line (the CLI with exit code 2, the app as a JSON error).

A *user error* is anything the person at the keyboard can fix: a missing file, a view name that
matches no file, a bad option value, an optional package that is not installed. The workflows raise
:class:`UserError` for what they check themselves; :class:`ValueError` and :class:`OSError` from
lp3d-io, lp3d-eks and lp3d-models carry one-line messages of the same kind ("expected X, but got
Y") and are shown the same way, as is an :class:`ImportError` (the readers of optional formats name
the extra to install). Anything else is a bug (an internal error). :class:`MissingExtraError` says
which optional part of lp3d to install.
"""

from __future__ import annotations

__all__ = ["UserError", "MissingExtraError", "is_user_error", "one_line", "failure_fields", "require_models"]


class UserError(ValueError):
    """Something the user can fix; the message says what is wrong and what was expected."""


class MissingExtraError(UserError, ImportError):
    """An optional package is not installed; the message names the extra that brings it."""


def require_models() -> None:
    """Checks that lp3d-models (torch) is installed, for training, prediction and distillation.

    Raises:
        MissingExtraError: it is not (the message names the extras that bring it).
    """
    import importlib.util

    if importlib.util.find_spec("lp3d_models") is None:
        raise MissingExtraError(
            "this needs lp3d-models (torch), which is not installed: pip install 'lp3d-cli[models]' "
            "(or 'lp3d-workflows[models]')"
        )


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is shown as a user error (one line, exit code 2) rather than a bug."""
    return isinstance(err, ValueError | OSError | ImportError)


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (OS errors name the file they are about)."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        text = f"{err.filename}: {err.strerror}"
    else:
        text = str(err) or type(err).__name__
    return " ".join(text.split())


def failure_fields(err: BaseException) -> dict[str, object]:
    """How a failed item of a batch records its error (call inside ``except``): ``error`` (one
    line), ``user_error`` and ``traceback``, the fields every batch summary has."""
    import traceback

    return {"error": one_line(err), "user_error": is_user_error(err), "traceback": traceback.format_exc()}
