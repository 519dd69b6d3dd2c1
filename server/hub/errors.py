"""Pipeline errors, one subclass per stage (like Home Assistant's assist_pipeline ``error.py``).

``code`` is what the satellite receives in ``error {code, text}`` (docs/satellite-protocol.md §4).
"""

from __future__ import annotations


class PipelineError(Exception):
    """A turn failed; ``code`` is machine-readable, ``message`` is for people."""

    apology: str | None = "Sorry, something went wrong."
    """Spoken to the user (if TTS works) after the error; None = say nothing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AudioInputError(PipelineError):
    """The satellite's audio could not be used (bad format, stopped sending)."""

    apology = None


class NoSpeechError(PipelineError):
    """No speech was heard before the no-speech timeout."""

    apology = None


class SpeechToTextError(PipelineError):
    apology = "Sorry, I can't understand speech right now."


class IntentError(PipelineError):
    """The brain could not be reached or failed."""

    apology = "Sorry, my brain is not reachable right now."


class TextToSpeechError(PipelineError):
    apology = None  # nothing could speak it
