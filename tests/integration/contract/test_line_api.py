"""LineApi and AudienceApi: the fakes (tests/fakes.py) and the LINE adapters, the latter over HTTP
against the LINE API fake server (infra/local/line_fake.py), answer alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cdp.adapters.line_api import LineApiClient, LineApiError, LineAudienceApi
from cdp.errors import BadRequest, NotFound

from infra.local.line_fake import LineApiFake, new_user_id
from tests.fakes import FakeAudienceApi, FakeLineApi
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS

LOGIN_CHANNEL = "1650000001"


class World:
    """One implementation of both ports, plus what the test needs to set up LINE's side."""

    def __init__(self, line: Any, audiences: Any, server: LineApiFake | None) -> None:
        self.line, self.audiences, self._server = line, audiences, server
        self._fakes = (line, audiences) if server is None else ()

    def channel(self) -> str:
        token = f"token-{uuid.uuid4().hex}"
        if self._server is not None:
            self._server.register_channel(token, new_user_id())
        for fake in self._fakes:
            fake.register_channel(token)
        return token

    def members(self, group: int) -> set[str]:
        """Who is in a group: LINE's API never says, the server's control side and the fake do."""
        if self._server is not None:
            found = self._server.audience(group)
            return set(found["members"]) if found else set()
        return set(self.audiences.members(group) or ())

    def id_token(self, user_id: str, *, channel_id: str = LOGIN_CHANNEL, expires_in: int = 3600) -> str:
        if self._server is not None:
            return self._server.issue_id_token(user_id, channel_id, expires_in=expires_in)
        token: str = self.line.issue_id_token(user_id, channel_id, expires_in=expires_in)
        return token


@pytest.fixture(scope="module")
def server() -> Iterator[LineApiFake]:
    with LineApiFake() as running:
        yield running


@pytest.fixture(params=IMPLEMENTATIONS)
def world(request: pytest.FixtureRequest, server: LineApiFake) -> World:
    if request.param == ADAPTER:
        client = LineApiClient(server.base_url)
        return World(client, LineAudienceApi(client), server)
    return World(FakeLineApi(), FakeAudienceApi(), None)


def test_a_link_token_for_a_well_formed_user_of_a_known_channel(world: World) -> None:
    token = world.channel()
    first = world.line.issue_link_token(access_token=token, user_id=new_user_id())
    second = world.line.issue_link_token(access_token=token, user_id=new_user_id())
    assert isinstance(first, str) and first and first != second


def test_a_malformed_user_is_not_found_and_an_unknown_channel_token_is_refused(world: World) -> None:
    token = world.channel()
    with pytest.raises(NotFound) as missing:
        world.line.issue_link_token(access_token=token, user_id="U123")
    assert missing.value.code == "line_user_not_found"
    with pytest.raises(LineApiError) as refused:
        world.line.issue_link_token(access_token=f"unknown-{uuid.uuid4().hex}", user_id=new_user_id())
    assert refused.value.code == "line_auth_failed"


def test_verify_answers_the_claims_of_a_valid_id_token(world: World) -> None:
    user = new_user_id()
    claims = world.line.verify_id_token(id_token=world.id_token(user), client_id=LOGIN_CHANNEL)
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("https://access.line.me", user, LOGIN_CHANNEL)
    assert claims["exp"] > claims["iat"]


@pytest.mark.parametrize("case", ["unknown", "other channel", "expired"])
def test_verify_refuses_what_line_login_refuses(world: World, case: str) -> None:
    user = new_user_id()
    id_token, client_id = {
        "unknown": (f"not-a-token-{uuid.uuid4().hex}", LOGIN_CHANNEL),
        "other channel": (world.id_token(user, channel_id="1659999999"), LOGIN_CHANNEL),
        "expired": (world.id_token(user, expires_in=0), LOGIN_CHANNEL),
    }[case]
    with pytest.raises(BadRequest) as refused:
        world.line.verify_id_token(id_token=id_token, client_id=client_id)
    assert refused.value.code == "invalid_id_token"


def test_audience_groups_are_created_then_added_to(world: World) -> None:
    token = world.channel()
    users = [new_user_id() for _ in range(3)]
    group = world.audiences.create_audience(access_token=token, description="segment gold", user_ids=users[:2])
    other = world.audiences.create_audience(access_token=token, description="segment gold", user_ids=users[:1])
    assert isinstance(group, int) and group != other
    world.audiences.add_to_audience(access_token=token, audience_group_id=group, user_ids=users[1:])
    world.audiences.add_to_audience(access_token=token, audience_group_id=group, user_ids=users[1:])  # a retry
    assert world.members(group) == set(users)
    assert world.members(other) == {users[0]}


def test_audience_uploads_refuse_bad_sizes_unknown_groups_and_malformed_ids(world: World) -> None:
    token = world.channel()
    with pytest.raises(ValueError):
        world.audiences.create_audience(access_token=token, description="d", user_ids=[])
    with pytest.raises(ValueError):
        world.audiences.add_to_audience(access_token=token, audience_group_id=1, user_ids=[new_user_id()] * 10_001)
    with pytest.raises(LineApiError):
        world.audiences.add_to_audience(access_token=token, audience_group_id=1, user_ids=[new_user_id()])
    with pytest.raises(LineApiError):
        world.audiences.create_audience(access_token=token, description="d", user_ids=["not-a-user"])
    group = world.audiences.create_audience(access_token=token, description="d", user_ids=[new_user_id()])
    with pytest.raises(LineApiError):  # another channel's group
        world.audiences.add_to_audience(access_token=world.channel(), audience_group_id=group, user_ids=[new_user_id()])
