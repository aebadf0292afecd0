"""face01d: a face-recognition daemon that turns camera frames into MQTT events.

The package is laid out as the data flows: ``capture`` → ``vision`` →
``gallery`` (who is it) → ``tracking`` → ``events`` → ``sinks``, wired together
by ``app``; ``config`` is the one validated source of settings.
"""

__version__ = "0.1.0"
