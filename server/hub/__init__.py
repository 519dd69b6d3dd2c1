"""The voice pipeline hub: satellites connect here (``jarvis hub``, port 10600, ``_jarvis._tcp``)."""
