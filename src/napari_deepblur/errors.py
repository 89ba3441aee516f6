"""The exceptions users see. Both derive from ``ValueError`` so generic handlers keep working."""

__all__ = ["DeblurInputError", "WeightsError"]


class DeblurInputError(ValueError):
    """The image or a parameter cannot be processed; the message says what to do instead."""


class WeightsError(RuntimeError):
    """Trained weights are missing or unreadable; the message names the file and the command that rebuilds it."""
