"""face01d: a face-recognition daemon that turns camera frames into MQTT events.

The package is laid out as the data flows: ``capture`` → ``vision`` →
``gallery`` (who is it) → ``events`` (presence, cooldown) → ``sinks``, wired
together by ``app`` and ``pipeline``; ``config`` is the one validated source
of settings. Tracking across frames will sit between gallery and events.
"""

__version__ = "0.1.0"
