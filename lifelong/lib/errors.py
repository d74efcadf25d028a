"""The one base of the errors services raise for input they refuse."""

from __future__ import annotations


class DomainError(ValueError):
    """Input a service refuses; `field` names the culprit when there is one.

    The API answers every DomainError with 422 and the field; views show the message
    on the form. Subclasses only say which part of the domain refused.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
