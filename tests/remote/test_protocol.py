"""What travels between node and workers: round trips bit for bit, and refusal of what is not ours."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from face01d.config.models import Config
from face01d.faces import EncodedFace
from face01d.remote.ledger import Ledger, Roster
from face01d.remote.protocol import (Answer, BadMessage, EncodeTopics, Job, ModelSettings, decode_answer, decode_job,
                                     encode_answer, encode_job)
from face01d.vision.encoder import AlignedFaces

MODEL = ModelSettings("small", 1)


def chips(count: int) -> np.ndarray:
    return np.random.default_rng(count).integers(0, 256, (count, 150, 150, 3), dtype=np.uint8)


def a_job(faces: np.ndarray, yaws: tuple[float, ...] = (0.125, -0.3)) -> Job:
    return Job("0123abcd", "node1", "金正恩の部屋", MODEL, AlignedFaces(faces, yaws))


def test_a_job_round_trips_with_its_chips_and_yaws() -> None:
    sent = chips(2)
    payload = encode_job(a_job(sent))
    job = decode_job(payload)
    assert np.array_equal(job.faces.chips, sent) and job.faces.chips.flags.writeable
    assert job.faces.yaws == (0.125, -0.3)
    assert (job.id, job.node, job.camera, job.model) == ("0123abcd", "node1", "金正恩の部屋", MODEL)
    assert len(payload) < 2 * 150 * 150 * 3 + 1024  # two chips and a header: no crop travels


def test_an_answer_round_trips_bit_for_bit() -> None:
    encodings = np.random.default_rng(2).normal(size=(2, 128))
    faces = (EncodedFace(encodings[0], 0.1234567890123), EncodedFace(encodings[1], -0.5))
    answer = decode_answer(encode_answer(Answer("id1", "w1", faces)))
    assert (answer.id, answer.worker, answer.refused, answer.error) == ("id1", "w1", None, None)
    assert all(np.array_equal(a.encoding, f.encoding) and a.yaw == f.yaw for a, f in zip(answer.faces, faces))
    refusal = decode_answer(encode_answer(Answer("id2", "w1", refused="jitters 2 (mine: 1)")))
    assert refusal.refused == "jitters 2 (mine: 1)" and refusal.faces == ()


@pytest.mark.parametrize("payload", [b"", b"\x00\x00", b"\xff\xff\xff\xff{}", b"\x00\x00\x00\x02{}",
                                     b"\x00\x00\x00\x09{\"v\": 2}", b"\x00\x00\x00\x03abc"])
def test_what_is_not_a_job_is_bad(payload: bytes) -> None:
    with pytest.raises(BadMessage):
        decode_job(payload)
    with pytest.raises(BadMessage):
        decode_answer(payload)


def test_a_job_with_too_few_pixels_no_chip_or_chips_of_another_size_is_bad() -> None:
    payload = encode_job(a_job(chips(2)))
    with pytest.raises(BadMessage, match="pixels"):
        decode_job(payload[:-1])
    for faces, yaws in ((np.zeros((0, 150, 150, 3), np.uint8), ()), (np.zeros((1, 64, 64, 3), np.uint8), (0.0,)),
                        (chips(2), (0.0,))):
        with pytest.raises(BadMessage, match="1 to 100 150×150 RGB uint8 chips, a yaw each"):
            decode_job(encode_job(a_job(faces, yaws)))


def test_model_differences_are_said_in_words() -> None:
    assert MODEL.differences(ModelSettings("small", 1)) is None
    assert MODEL.differences(ModelSettings("large", 2)) == "jitters 2 (mine: 1)"
    assert MODEL.differences(ModelSettings("large", 1)) is None  # the node aligned with its landmarks: no matter


def test_topics() -> None:
    topics = EncodeTopics("home/face01")
    assert topics.jobs == "home/face01/encode/jobs"
    assert topics.shared_jobs("encoders") == "$share/encoders/home/face01/encode/jobs"
    assert topics.answers("node/1") == "home/face01/node_1/encode/answers"
    assert topics.worker_status("gpu+1") == "home/face01/workers/gpu_1/status"


async def test_the_ledger_uses_the_first_answer_only() -> None:
    ledger = Ledger()
    future = ledger.open("j1")
    assert ledger.resolve(Answer("j1", "a")) == "used" and future.result().worker == "a"
    assert ledger.resolve(Answer("j1", "b")) == "duplicate"
    ledger.close("j1")
    assert ledger.resolve(Answer("j1", "b")) == "duplicate"
    ledger.open("j2")
    ledger.close("j2")  # given up on
    assert ledger.resolve(Answer("j2", "a")) == "late"
    assert ledger.resolve(Answer("never", "a")) == "late" and ledger.in_flight == 0


def test_the_roster_counts_online_workers_of_its_group() -> None:
    roster = Roster("g")
    roster.heard("a", b'{"state": "online", "group": "g"}')
    roster.heard("b", b'{"state": "online", "group": "other"}')
    roster.heard("c", b"not json")
    assert roster.online == 1
    roster.heard("a", b'{"state": "offline", "group": "g"}')
    assert roster.online == 0


def test_remote_encoding_needs_the_broker_and_a_timeout_within_the_decision_deadline() -> None:
    with pytest.raises(ValidationError, match="needs the MQTT broker"):
        Config.model_validate({"workers": {"encode": "remote"}, "mqtt": {"enabled": False}})
    with pytest.raises(ValidationError, match="remote_timeout_s must not exceed"):
        Config.model_validate({"workers": {"encode": "remote", "remote_timeout_s": 2.0}})
    with pytest.raises(ValidationError):
        Config.model_validate({"workers": {"detect": "remote"}})  # detection stays local
    config = Config.model_validate({"workers": {"encode": "remote", "remote_group": "gpu-box"}})
    assert (config.workers.remote_group, config.workers.remote_fallback) == ("gpu-box", "local")


async def test_stopping_abandons_the_jobs_in_flight() -> None:
    ledger = Ledger()
    future = ledger.open("j1")
    ledger.abandon(RuntimeError("stopped"))
    with pytest.raises(RuntimeError, match="stopped"):
        await future
    ledger.close("j1")
    assert ledger.resolve(Answer("j1", "a")) == "late"
