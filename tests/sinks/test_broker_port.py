"""The test broker's port can be taken again after a restart, while a sink retries it many times a second.

CI once failed with mosquitto's "Address already in use" on a restart: the
port came from the ephemeral range, and the sink's reconnect, retrying
every 10 ms while the broker was down, was given that very port as its own
and connected to itself (TCP simultaneous open). ``free_port`` now picks
below the ephemeral range, where no connecting socket is ever placed.
"""

from __future__ import annotations

from support.ports import _ephemeral_range, free_port


def test_free_ports_lie_outside_the_ephemeral_range_and_are_never_handed_out_twice() -> None:
    low, high = _ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert not [port for port in ports if low <= port <= high]
    assert len(set(ports)) == len(ports)

