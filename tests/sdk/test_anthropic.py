"""The official `anthropic` SDK through mintoken: Messages and count_tokens.

Note on credentials: this SDK generation (anthropic 2.x) sends both `api_key=` and
`auth_token=` as `Authorization: Bearer …`; an `x-api-key` header is only sent when the
caller sets it. All three ways of presenting the mintoken key are tested.
"""

from __future__ import annotations

import anthropic
import pytest

from mintoken_harness import (
    FULL,
    MOCK_REPLY,
    PNG_B64,
    PROVIDER_KEYS,
    Capture,
    assert_anthropic_credential,
    assert_mintoken_headers,
    assert_no_mintoken_secrets,
    expect_anthropic,
    http_client,
)

MODEL = "claude-sonnet-5-5"
USER = {"role": "user", "content": "How do I undo my last git commit?"}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def make_client(
    server,
    capture: Capture,
    *,
    api_key: str | None = None,
    auth_token: str | None = None,
    x_api_key: str | None = None,
    provider_key: str | None = PROVIDER_KEYS["anthropic"],
):
    headers = {}
    if provider_key:
        headers["X-Provider-Key"] = provider_key
    if x_api_key:
        headers["x-api-key"] = x_api_key
    return anthropic.Anthropic(
        base_url=server.url,
        api_key=api_key,
        auth_token=auth_token,
        default_headers=headers,
        max_retries=0,
        http_client=capture.client(anthropic.DefaultHttpxClient),
    )



@pytest.fixture
def client(server, account, capture):
    with make_client(server, capture, api_key=account.key) as c:
        yield c


def check_upstream(mock, account, capture, path: str = "/v1/messages"):
    """The single upstream request: right route, credential, version, no mintoken secret."""
    upstream = mock.only_request()
    assert (upstream.method, upstream.path) == ("POST", path)
    assert_anthropic_credential(upstream)
    assert_no_mintoken_secrets(upstream, account.key)
    # The SDK's own anthropic-version is passed through unchanged.
    assert upstream.header_values("anthropic-version") == [capture.sent.headers["anthropic-version"]]
    return upstream


def test_plain_call(client, capture, mock, account):
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[USER],
        stop_sequences=["END"],
        metadata={"user_id": "suite-user"},
        extra_body={"x_vendor_option": {"nested": [1, 2.5, None, "ü"]}},
    )

    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == MOCK_REPLY
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == len(MOCK_REPLY.split())
    assert_mintoken_headers(capture.response_headers, "full")

    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_anthropic(capture.sent_json(), FULL)
    assert upstream.json()["system"] == FULL


def test_streaming_call(client, capture, mock, account):
    with client.messages.stream(model=MODEL, max_tokens=256, messages=[USER]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == MOCK_REPLY
    assert final.content[0].text == MOCK_REPLY
    assert final.stop_reason == "end_turn"
    assert_mintoken_headers(capture.response_headers, "full")

    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_anthropic(capture.sent_json(), FULL)
    assert upstream.json()["stream"] is True


def test_tool_call(client, capture, mock, account):
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "auto"},
    )

    block = message.content[0]
    assert (block.type, block.name, block.input) == ("tool_use", "get_weather", {})
    assert message.stop_reason == "tool_use"

    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_anthropic(capture.sent_json(), FULL)
    assert upstream.json()["tools"] == [WEATHER_TOOL]


def test_image_block_arrives_byte_identical(client, capture, mock, account):
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is in this image?"}]}],
    )

    assert message.content[0].text == MOCK_REPLY
    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_anthropic(capture.sent_json(), FULL)
    assert upstream.json()["messages"][0]["content"][0] == image
    assert PNG_B64 in upstream.body


def test_system_string_gets_the_skill_prepended(client, capture, mock, account):
    message = client.messages.create(
        model=MODEL, max_tokens=256, system="You are a release engineer.", messages=[USER]
    )

    assert message.content[0].text == MOCK_REPLY
    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_anthropic(capture.sent_json(), FULL)
    assert upstream.json()["system"] == f"{FULL}\n\nYou are a release engineer."


def test_system_blocks_get_a_leading_skill_block(client, capture, mock, account):
    system = [
        {"type": "text", "text": "You are a release engineer.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Answer in English."},
    ]
    client.messages.create(model=MODEL, max_tokens=256, system=system, messages=[USER])

    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_anthropic(capture.sent_json(), FULL)
    # The original blocks, cache_control included, are unchanged behind the skill.
    assert upstream.json()["system"] == [{"type": "text", "text": FULL}, *system]


def test_intensity_none_forwards_the_body_untouched(client, capture, mock, account):
    client.messages.create(
        model=MODEL,
        max_tokens=256,
        system="Be brief.",
        messages=[USER],
        extra_headers={"X-Mintoken-Intensity": "none"},
    )

    assert_mintoken_headers(capture.response_headers, "none")
    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == capture.sent_json()


def test_count_tokens_passes_through_without_skill(client, capture, mock, account):
    counted = client.messages.count_tokens(model=MODEL, system="You are terse.", messages=[USER])

    # The mock counts ceil(chars / 4) of the text it received: no skill added.
    chars = len("You are terse.") + len(USER["content"])
    assert counted.input_tokens == -(-chars // 4)

    upstream = check_upstream(mock, account, capture, "/v1/messages/count_tokens")
    assert upstream.json() == capture.sent_json()


def test_anthropic_beta_is_passed_through(client, capture, mock, account):
    client.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[USER],
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
    )

    upstream = check_upstream(mock, account, capture)
    assert upstream.header_values("anthropic-beta") == ["prompt-caching-2024-07-31"]


@pytest.mark.parametrize("way", ["api_key", "auth_token", "x-api-key"])
def test_every_way_of_presenting_the_mintoken_key(server, account, mock, way):
    capture = Capture()
    credential = {"api_key": {"api_key": account.key}, "auth_token": {"auth_token": account.key}}
    options = credential.get(way, {"x_api_key": account.key})
    with make_client(server, capture, **options) as client:
        message = client.messages.create(model=MODEL, max_tokens=64, messages=[USER])

    sent = capture.sent.headers
    if way == "x-api-key":
        assert sent["x-api-key"] == account.key and "authorization" not in sent
    else:
        assert sent["authorization"] == f"Bearer {account.key}" and "x-api-key" not in sent
    assert message.content[0].text == MOCK_REPLY
    check_upstream(mock, account, capture)


def test_anthropic_version_defaults_when_absent(server, account, mock):
    with http_client(base_url=server.url) as http:
        response = http.post(
            "/v1/messages",
            headers={"x-api-key": account.key, "X-Provider-Key": PROVIDER_KEYS["anthropic"]},
            json={"model": MODEL, "max_tokens": 64, "messages": [USER]},
        )
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == MOCK_REPLY
    upstream = mock.only_request()
    assert upstream.header_values("anthropic-version") == ["2023-06-01"]
    assert_anthropic_credential(upstream)
    assert_no_mintoken_secrets(upstream, account.key)


# --------------------------------------------------------------------------------------
# Errors mintoken raises itself
# --------------------------------------------------------------------------------------


def call(client, **options):
    return client.messages.create(model=MODEL, max_tokens=64, messages=[USER], **options)


# Anthropic's error types for the statuses mintoken raises.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}


def check_envelope(error: anthropic.APIStatusError, status: int, message: str) -> None:
    assert error.status_code == status
    assert message in str(error)
    body = error.response.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": ERROR_TYPES[status], "message": message}
    assert body["detail"] == message


@pytest.mark.parametrize(
    "bad_key",
    [
        pytest.param("sk-ant-notAMintokenKey", id="wrong-format"),
        pytest.param("mt_live_" + "A" * 40, id="unknown"),
        pytest.param(None, id="revoked"),
    ],
)
@pytest.mark.parametrize("way", ["api_key", "x-api-key"])
def test_invalid_key_is_an_authentication_error(server, account, mock, bad_key, way):
    key = bad_key or account.revoked_key
    options = {"api_key": key} if way == "api_key" else {"x_api_key": key}
    with make_client(server, Capture(), **options) as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            call(client)
    check_envelope(caught.value, 401, "Invalid API key")
    assert mock.requests() == []


def test_missing_key_is_an_authentication_error(server, mock):
    # No credential at all: the SDK allows it when Authorization is explicitly omitted.
    with make_client(server, Capture(), api_key="unused") as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            call(client, extra_headers={"Authorization": anthropic.omit})
    assert "authorization" not in caught.value.request.headers
    assert "x-api-key" not in caught.value.request.headers
    check_envelope(caught.value, 401, "Missing API key")
    assert mock.requests() == []


def test_missing_provider_key_is_a_bad_request(server, account, mock):
    with make_client(server, Capture(), api_key=account.key, provider_key=None) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            call(client)
    check_envelope(caught.value, 400, "Missing X-Provider-Key header")
    assert mock.requests() == []


def test_exhausted_quota_is_a_rate_limit_error(server, exhausted_key, mock):
    with make_client(server, Capture(), api_key=exhausted_key) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            call(client)
    check_envelope(caught.value, 429, "token quota exceeded")
    assert mock.requests() == []
