"""One gallery for all nodes, with the MQTT broker as the only shared engine.

One daemon (``[gallery] publish = true``) or ``face01d gallery publish``
encodes its folder's gallery into one payload and leaves it on the broker,
retained, for the others (``[gallery] source = "broker"``)::

    <prefix>/gallery/<sha256>/<i>   chunk i of the payload (retained), each within the broker's maximum packet size
    <prefix>/gallery/manifest       version, sha256, size, chunk count, encoding settings (retained, JSON, sent last)

Chunks live under the payload's own hash, and the manifest goes out after
them: a node never assembles half of a new version with half of the old.
A node verifies the hash, writes the payload as its last good copy (fsynced,
so it can start while the broker is down), then swaps the gallery in as a
folder reload does. A node whose encoding settings differ refuses it.
"""
