"""TLS: the sink verifies the broker against ``ca_file``."""

from __future__ import annotations

import asyncio

import structlog
from mqtt_helpers import NODE, fast_timing, make_sink, wait_until  # noqa: F401
from support.broker import TlsFiles


async def test_connects_over_tls_with_the_ca_file(mosquitto_tls, mqtt_recorder, make_sink):
    sink = make_sink(mosquitto_tls.port, tls=True, ca_file=mosquitto_tls.tls.ca)
    await sink.start()
    await wait_until(lambda: sink.stats["connected"])
    recorder = mqtt_recorder(mosquitto_tls, f"face01/{NODE}/status")
    assert [(m.text, m.retain) for m in await recorder.wait_for(lambda ms: ms)] == [("online", True)]


async def test_an_untrusted_broker_certificate_is_refused(mosquitto_tls, make_sink, tmp_path):
    stranger = TlsFiles.create(tmp_path / "other-ca")
    sink = make_sink(mosquitto_tls.port, tls=True, ca_file=stranger.ca)
    with structlog.testing.capture_logs() as logs:
        await sink.start()
        await wait_until(lambda: sink.stats["attempts"] >= 2)
        await asyncio.sleep(0.1)
    assert not sink.stats["connected"]
    warnings = [e for e in logs if e["event"] == "mqtt.unreachable"]
    assert warnings and "certificate" in warnings[0]["reason"].lower(), logs
