"""The one error type raised when a rule of the conventions refuses an action."""


class RuleError(Exception):
    """A refusal with a French message for the user; `field` names the form field at fault."""

    def __init__(self, message, field=None, errors=None):
        super().__init__(message)
        self.message = message
        self.field = field
        # Several refusals at once, as [(field, message)], so a form shows them all.
        self.errors = errors or [(field, message)]


class NeedsConfirmation(RuleError):
    """A warning the user may overrule by ticking the named confirmation box."""

    def __init__(self, message, field, confirm, demande_id=None):
        super().__init__(message, field)
        self.confirm = confirm
        self.demande_id = demande_id  # the request it points to (a possible duplicate)
