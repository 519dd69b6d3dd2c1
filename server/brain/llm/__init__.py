"""Language-model backends behind one small interface (:class:`LLMBackend`)."""

from .base import ChatDelta, LLMBackend, LLMError, Message, ToolCall, complete
from .none import NEED_LLM, AutoLLM, NoLLM

__all__ = [
    "NEED_LLM",
    "AutoLLM",
    "ChatDelta",
    "LLMBackend",
    "LLMError",
    "Message",
    "NoLLM",
    "ToolCall",
    "complete",
]
