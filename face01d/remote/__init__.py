"""Remote encoding: looks encoded by ``face01d worker`` services through the MQTT broker.

The broker is the distributed engine: jobs go to a shared subscription, so
any number of workers anywhere that reaches it share them, and MQTT 5 gives
the rest (response topic, correlation data, message expiry, receive
maximum). ``protocol.py`` says what travels, ``node.py`` is the node's
``RemoteEncoder`` (a VisionWorkers), ``worker.py`` the worker service.
"""
