"""API Gateway proxy helpers: exact body bytes (base64, gzip, deflate) with size limits, headers, responses."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from typing import Any

import pytest
from cdp.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from cdp.http import error_response, header, json_response, raw_body

BODY = '{"destination":"U0a1b2c3d4e5f60718293a4b5c6d7e8f9","events":[{"text":"早安"}]}'.encode()
LIMIT = 1024


def _event(body: Any, *, b64: bool = False, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"body": body, "isBase64Encoded": b64, "headers": headers}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# headers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sent_as", ["x-line-signature", "X-Line-Signature", "X-LINE-SIGNATURE"])
def test_header_lookup_ignores_case(sent_as: str) -> None:
    # Given a request whose header casing depends on the client
    event = _event("", headers={sent_as: "c2ln", "Content-Type": "application/json"})

    # When it is looked up with any casing
    # Then it is found
    assert header(event, "x-line-signature") == "c2ln"
    assert header(event, "X-Line-Signature") == "c2ln"


@pytest.mark.parametrize("headers", [None, {}, {"Content-Type": "application/json"}, {"x-line-signature": None}])
def test_absent_header_is_none(headers: dict[str, Any] | None) -> None:
    # Given a request without the header (or with API Gateway's null headers)
    # When / Then the lookup gives None
    assert header(_event("", headers=headers), "x-line-signature") is None


# raw_body -----------------------------------------------------------------------------------
def test_plain_text_body_is_returned_as_utf8_bytes() -> None:
    # Given a text body with non-ASCII characters
    # When it is read
    # Then the bytes are the UTF-8 encoding the client signed
    assert raw_body(_event(BODY.decode()), max_bytes=LIMIT) == BODY


def test_missing_body_is_empty() -> None:
    assert raw_body({"headers": {}}, max_bytes=LIMIT) == b""


def test_base64_body_is_decoded_to_the_exact_bytes() -> None:
    # Given a binary-flagged body (API Gateway base64-encodes it)
    # When it is read
    # Then the exact original bytes come back
    assert raw_body(_event(_b64(BODY), b64=True), max_bytes=LIMIT) == BODY


@pytest.mark.parametrize("bad", ["not base64!", "QUJ", "QU=J", "早安"])
def test_invalid_base64_is_a_bad_request(bad: str) -> None:
    # Given a body flagged base64 that is not valid base64 (bad alphabet, padding, or not even ASCII)
    event = _event(bad, b64=True)

    # When it is read
    with pytest.raises(BadRequest) as raised:
        raw_body(event, max_bytes=LIMIT)

    # Then it is a 400 invalid_body
    assert raised.value.code == "invalid_body"


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("deflate", zlib.compress),
        ("identity", lambda data: data),
        ("", lambda data: data),
    ],
)
def test_compressed_body_is_decompressed(encoding: str, compress: Any) -> None:
    # Given a body compressed as its Content-Encoding says (Segment SDKs gzip batches)
    event = _event(_b64(compress(BODY)), b64=True, headers={"Content-Encoding": encoding})

    # When it is read
    # Then the original bytes come back
    assert raw_body(event, max_bytes=LIMIT) == BODY


def test_body_over_the_limit_on_the_wire_is_too_large() -> None:
    # Given a plain body one byte over the limit
    # When it is read
    with pytest.raises(PayloadTooLarge) as raised:
        raw_body(_event("x" * (LIMIT + 1)), max_bytes=LIMIT)

    # Then it is a 413 (and a body exactly at the limit is fine)
    assert raised.value.status == 413
    assert raw_body(_event("x" * LIMIT), max_bytes=LIMIT) == b"x" * LIMIT


def test_base64_body_is_measured_after_decoding() -> None:
    # Given a base64 body whose text is over the limit but whose bytes are exactly at it
    data = b"y" * LIMIT
    encoded = _b64(data)
    assert len(encoded) > LIMIT

    # When it is read
    # Then the decoded size is what counts
    assert raw_body(_event(encoded, b64=True), max_bytes=LIMIT) == data


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compression_bomb_is_too_large_after_decompression(encoding: str) -> None:
    # Given a tiny compressed body that expands to 200x the limit
    bomb = b"\0" * (LIMIT * 200)
    wire = gzip.compress(bomb) if encoding == "gzip" else zlib.compress(bomb)
    assert len(wire) < LIMIT

    # When it is read
    # Then decompression stops at the limit with a 413
    with pytest.raises(PayloadTooLarge):
        raw_body(_event(_b64(wire), b64=True, headers={"content-encoding": encoding}), max_bytes=LIMIT)


def test_compressed_body_exactly_at_the_limit_is_accepted() -> None:
    # Given a gzip body that expands to exactly the limit
    data = b"z" * LIMIT

    # When it is read
    # Then it is accepted
    assert (
        raw_body(_event(_b64(gzip.compress(data)), b64=True, headers={"content-encoding": "gzip"}), max_bytes=LIMIT)
        == data
    )


@pytest.mark.parametrize(
    ("encoding", "wire"),
    [
        pytest.param("gzip", BODY, id="gzip-header-plain-body"),
        pytest.param("deflate", gzip.compress(BODY), id="deflate-header-gzip-body"),
        pytest.param("gzip", gzip.compress(BODY)[:-12], id="gzip-truncated"),
        pytest.param("gzip", gzip.compress(BODY)[:-4], id="gzip-without-its-trailer"),
        pytest.param("deflate", zlib.compress(BODY)[:-6], id="deflate-truncated"),
    ],
)
def test_body_that_is_not_what_its_encoding_says_is_a_bad_request(encoding: str, wire: bytes) -> None:
    # Given a body that is not (or not completely) compressed as its Content-Encoding says
    event = _event(_b64(wire), b64=True, headers={"Content-Encoding": encoding})

    # When it is read
    with pytest.raises(BadRequest) as raised:
        raw_body(event, max_bytes=LIMIT)

    # Then it is a 400 invalid_body, not a silently shortened body
    assert raised.value.code == "invalid_body"


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd", "gzip, br"])
def test_unsupported_encoding_is_415(encoding: str) -> None:
    # Given a body in an encoding we do not decode
    event = _event(_b64(BODY), b64=True, headers={"Content-Encoding": encoding})

    # When it is read
    with pytest.raises(UnsupportedMediaType) as raised:
        raw_body(event, max_bytes=LIMIT)

    # Then it is a 415 unsupported_encoding
    assert raised.value.status == 415
    assert raised.value.code == "unsupported_encoding"


# responses ----------------------------------------------------------------------------------
def test_json_response_is_compact_utf8_json() -> None:
    # Given a payload with non-ASCII text
    # When it is shaped as a response
    response = json_response(200, {"name": "林小美"}, {"X-Request-Id": "r-1"})

    # Then it is an API Gateway proxy response with JSON content and the extra header
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("application/json")
    assert response["headers"]["X-Request-Id"] == "r-1"
    assert response["body"] == '{"name":"林小美"}'
    assert response["isBase64Encoded"] is False


def test_error_response_carries_status_code_and_details() -> None:
    # Given domain errors with and without details
    with_details = error_response(BadRequest("bad event", code="invalid_field", details={"field": "context"}))
    without = error_response(NotFound("no such channel", code="unknown_channel"))

    # Then each maps to its status and a machine-readable body
    assert with_details["statusCode"] == 400
    assert json.loads(with_details["body"]) == {
        "error": "invalid_field",
        "message": "bad event",
        "details": {"field": "context"},
    }
    assert without["statusCode"] == 404
    assert json.loads(without["body"]) == {"error": "unknown_channel", "message": "no such channel"}
