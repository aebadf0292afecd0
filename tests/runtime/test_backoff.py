"""One Backoff and one wait for refused credentials, for cameras and the broker alike."""

from __future__ import annotations

from face01d import backoff
from face01d.backoff import AUTH_RETRY_S, Backoff
from face01d.capture import camera
from face01d.sinks import mqtt


def test_refused_credentials_wait_auth_s_or_the_longer_backoff():
    retry = Backoff(start=1.0, cap=4.0, auth_s=2.0)
    assert retry.auth_delay() == 2.0 and retry.attempt == 1  # counted as an attempt too
    slow = Backoff(start=10.0, cap=10.0, auth_s=0.0)
    assert 0.0 <= slow.auth_delay() <= 10.0
    retry.reset()
    assert retry.attempt == 0


def test_one_constant_for_refused_credentials():
    assert Backoff(1.0, 2.0).auth_s == AUTH_RETRY_S == 300.0
    assert camera.AUTH_RETRY_S is backoff.AUTH_RETRY_S and mqtt.AUTH_RETRY_S is backoff.AUTH_RETRY_S
