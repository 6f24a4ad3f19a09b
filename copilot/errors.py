"""One exception tree for the core. Only ``copilot.lsp`` turns these into protocol answers."""


class CopilotError(Exception):
    """Base class: the message is shown to the user as is (one clear line)."""


class ConfigError(CopilotError):
    """A configuration layer was rejected (unknown key, wrong type)."""


class ModelError(CopilotError):
    """The model file is missing, unreadable, or cannot do fill-in-the-middle."""


class ModelUnavailable(ModelError):
    """No model is loaded; the reason was logged once, when the model failed to open."""


class CacheUnavailable(CopilotError):
    """The completion cache cannot be opened; completion goes on without it."""


class DocumentError(CopilotError):
    """A request names a document or position the server cannot use."""
