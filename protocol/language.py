"""Language codes as every part of Jarvis reads them: one code per utterance, base codes for choices.

- :data:`LANGUAGE_CODE` is one code a satellite may send (``en``, ``fr``, ``fr-FR``, ``pt_BR``): the
  hub checks it in ``run-pipeline`` and ``jarvis satellite --language`` checks it before sending.
- :func:`base_language` reduces a regional code to its language (``fr-CA`` -> ``fr``): the STT's
  Whisper codes, the brain's templates and the TTS's voices are chosen by it.
"""

from __future__ import annotations

import re

LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$")
"""One language code with an optional region (``en``, ``fr-FR``, ``pt_BR``)."""


def base_language(language: str) -> str:
    """``"en-US"`` -> ``"en"``, ``"fr_CA"`` -> ``"fr"``, ``" FR "`` -> ``"fr"``."""
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()
