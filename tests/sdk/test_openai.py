"""The official `openai` SDK through mintoken: Chat Completions and the Responses API.

Each test checks both sides: what the SDK returned to its caller, and what reached the
mock upstream (credential, no mintoken secret, skill injected, the rest of the body equal
to what the SDK sent, captured on the SDK's own httpx client).
"""

from __future__ import annotations

import openai
import pytest

from mintoken_harness import (
    FULL,
    MOCK_REPLY,
    PNG_B64,
    PROVIDER_KEYS,
    SKILLS,
    Capture,
    assert_mintoken_headers,
    assert_no_mintoken_secrets,
    assert_openai_credential,
    expect_openai_chat,
    expect_openai_responses,
    http_client,
)

MODEL = "gpt-4o-mini"
USER = {"role": "user", "content": "How do I undo my last git commit?"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def make_client(server, key: str | None, capture: Capture, *, provider_key: str | None = PROVIDER_KEYS["openai"]):
    headers = {"X-Provider-Key": provider_key} if provider_key else {}
    return openai.OpenAI(
        base_url=f"{server.url}/v1",
        api_key=key,
        default_headers=headers,
        max_retries=0,
        http_client=capture.client(openai.DefaultHttpxClient),
    )



@pytest.fixture
def client(server, account, capture):
    with make_client(server, account.key, capture) as c:
        yield c


def check_upstream(mock, account, capture, path: str):
    """The single upstream request: right route, credential, no mintoken secret."""
    upstream = mock.only_request()
    assert (upstream.method, upstream.path) == ("POST", path)
    assert_openai_credential(upstream)
    assert_no_mintoken_secrets(upstream, account.key)
    return upstream


# --------------------------------------------------------------------------------------
# Chat Completions
# --------------------------------------------------------------------------------------


class TestChatCompletions:
    PATH = "/v1/chat/completions"

    def test_plain_call(self, client, capture, mock, account):
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[USER],
            temperature=0.2,
            max_completion_tokens=200,
            # Unknown fields must pass through untouched.
            extra_body={"x_vendor_option": {"nested": [1, 2.5, None, "ü"]}},
        )

        assert reply.choices[0].message.content == MOCK_REPLY
        assert reply.choices[0].finish_reason == "stop"
        assert reply.usage.completion_tokens == len(MOCK_REPLY.split())
        assert_mintoken_headers(capture.response_headers, "full")

        upstream = check_upstream(mock, account, capture, self.PATH)
        # The key's default intensity is `full`: a system message is inserted at index 0.
        assert upstream.json() == expect_openai_chat(capture.sent_json(), FULL)
        assert upstream.json()["messages"][0] == {"role": "system", "content": FULL}

    def test_streaming_call(self, client, capture, mock, account):
        stream = client.chat.completions.create(model=MODEL, messages=[USER], stream=True)
        chunks = list(stream)

        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == MOCK_REPLY
        # mintoken asked upstream for usage; the client did not, so it must not see it.
        assert all(c.usage is None for c in chunks)
        assert all(c.choices for c in chunks), "the usage-only chunk leaked to the client"
        assert_mintoken_headers(capture.response_headers, "full")

        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_chat(capture.sent_json(), FULL, streaming=True)
        assert upstream.json()["stream_options"] == {"include_usage": True}

    def test_streaming_call_that_asks_for_usage_gets_it(self, client, capture, mock, account):
        stream = client.chat.completions.create(
            model=MODEL, messages=[USER], stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)

        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == MOCK_REPLY
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(MOCK_REPLY.split())

        upstream = check_upstream(mock, account, capture, self.PATH)
        # The client's own stream_options arrive as sent, nothing added.
        assert upstream.json() == expect_openai_chat(capture.sent_json(), FULL)

    def test_tool_call(self, client, capture, mock, account):
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER_TOOL],
            tool_choice="auto",
        )

        call = reply.choices[0].message.tool_calls[0]
        assert (call.type, call.function.name, call.function.arguments) == ("function", "get_weather", "{}")
        assert reply.choices[0].finish_reason == "tool_calls"

        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_chat(capture.sent_json(), FULL)
        assert upstream.json()["tools"] == [WEATHER_TOOL]

    def test_image_part_arrives_byte_identical(self, client, capture, mock, account):
        data_url = f"data:image/png;base64,{PNG_B64}"
        reply = client.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this image?"},
                        {"type": "image_url", "image_url": {"url": data_url, "detail": "low"}},
                    ],
                }
            ],
        )

        assert reply.choices[0].message.content == MOCK_REPLY
        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_chat(capture.sent_json(), FULL)
        assert upstream.json()["messages"][1]["content"][1]["image_url"]["url"] == data_url
        assert PNG_B64 in upstream.body

    @pytest.mark.parametrize(
        ("messages", "expected_first_system"),
        [
            pytest.param(
                [{"role": "system", "content": "You are a release engineer."}, USER],
                f"{FULL}\n\nYou are a release engineer.",
                id="system-string",
            ),
            pytest.param(
                [{"role": "developer", "content": [{"type": "text", "text": "You are a release engineer."}]}, USER],
                [{"type": "text", "text": FULL}, {"type": "text", "text": "You are a release engineer."}],
                id="developer-parts",
            ),
            pytest.param(
                [USER, {"role": "developer", "content": "Answer in English."}],
                f"{FULL}\n\nAnswer in English.",
                id="developer-after-user",
            ),
        ],
    )
    def test_system_prompt_gets_the_skill_prepended(
        self, client, capture, mock, account, messages, expected_first_system
    ):
        reply = client.chat.completions.create(model=MODEL, messages=messages)

        assert reply.choices[0].message.content == MOCK_REPLY
        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_chat(capture.sent_json(), FULL)
        forwarded = upstream.json()["messages"]
        # The client's own system/developer message carries the skill; none is added.
        assert len(forwarded) == len(messages)
        first_system = next(m for m in forwarded if m["role"] in ("system", "developer"))
        assert first_system["content"] == expected_first_system

    def test_intensity_none_forwards_the_body_untouched(self, client, capture, mock, account):
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "system", "content": "Be brief."}, USER],
            extra_headers={"X-Mintoken-Intensity": "none"},
        )

        assert_mintoken_headers(capture.response_headers, "none")
        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == capture.sent_json()

    @pytest.mark.parametrize("intensity", ["lite", "ultra"])
    def test_intensity_header_selects_the_skill(self, client, capture, mock, account, intensity):
        client.chat.completions.create(
            model=MODEL, messages=[USER], extra_headers={"X-Mintoken-Intensity": intensity}
        )

        assert_mintoken_headers(capture.response_headers, intensity)
        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_chat(capture.sent_json(), SKILLS[intensity])


# --------------------------------------------------------------------------------------
# Responses API
# --------------------------------------------------------------------------------------


class TestResponses:
    PATH = "/v1/responses"

    def test_plain_call(self, client, capture, mock, account):
        response = client.responses.create(model=MODEL, input="How do I undo my last git commit?", temperature=0.2)

        assert response.output_text == MOCK_REPLY
        assert response.usage.output_tokens == len(MOCK_REPLY.split())
        assert_mintoken_headers(capture.response_headers, "full")

        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_responses(capture.sent_json(), FULL)
        assert upstream.json()["instructions"] == FULL

    def test_streaming_call(self, client, capture, mock, account):
        events = list(client.responses.create(model=MODEL, input="Hello", stream=True))

        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        assert "".join(deltas) == MOCK_REPLY
        assert events[-1].type == "response.completed"
        assert events[-1].response.output_text == MOCK_REPLY
        assert_mintoken_headers(capture.response_headers, "full")

        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_responses(capture.sent_json(), FULL)

    def test_tool_call(self, client, capture, mock, account):
        tool = {"type": "function", **WEATHER_TOOL["function"]}
        response = client.responses.create(model=MODEL, input="Weather in Paris?", tools=[tool])

        call = response.output[0]
        assert (call.type, call.name, call.arguments) == ("function_call", "get_weather", "{}")

        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_responses(capture.sent_json(), FULL)

    def test_image_part_arrives_byte_identical(self, client, capture, mock, account):
        data_url = f"data:image/png;base64,{PNG_B64}"
        response = client.responses.create(
            model=MODEL,
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is in this image?"},
                        {"type": "input_image", "image_url": data_url, "detail": "low"},
                    ],
                }
            ],
        )

        assert response.output_text == MOCK_REPLY
        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_responses(capture.sent_json(), FULL)
        assert upstream.json()["input"][0]["content"][1]["image_url"] == data_url
        assert PNG_B64 in upstream.body

    def test_instructions_get_the_skill_prepended(self, client, capture, mock, account):
        response = client.responses.create(model=MODEL, instructions="You are a release engineer.", input="Hi")

        assert response.output_text == MOCK_REPLY
        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == expect_openai_responses(capture.sent_json(), FULL)
        assert upstream.json()["instructions"] == f"{FULL}\n\nYou are a release engineer."

    def test_intensity_none_forwards_the_body_untouched(self, client, capture, mock, account):
        client.responses.create(
            model=MODEL, instructions="Be brief.", input="Hi", extra_headers={"X-Mintoken-Intensity": "none"}
        )

        assert_mintoken_headers(capture.response_headers, "none")
        upstream = check_upstream(mock, account, capture, self.PATH)
        assert upstream.json() == capture.sent_json()


# --------------------------------------------------------------------------------------
# Errors mintoken raises itself
# --------------------------------------------------------------------------------------


def call(client, api: str, **options):
    if api == "chat":
        return client.chat.completions.create(model=MODEL, messages=[USER], **options)
    return client.responses.create(model=MODEL, input="Hi", **options)


def check_envelope(error: openai.APIStatusError, status: int, message: str) -> None:
    assert error.status_code == status
    assert message in str(error)
    body = error.response.json()
    assert body["error"]["message"] == message
    assert set(body["error"]) >= {"message", "type", "param", "code"}
    assert body["detail"] == message


API = pytest.mark.parametrize("api", ["chat", "responses"])


@API
@pytest.mark.parametrize(
    "bad_key",
    [
        pytest.param("sk-proj-notAMintokenKey", id="wrong-format"),
        pytest.param("mt_live_" + "A" * 40, id="unknown"),
        pytest.param(None, id="revoked"),
    ],
)
def test_invalid_key_is_an_authentication_error(server, account, mock, api, bad_key):
    with make_client(server, bad_key or account.revoked_key, Capture()) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            call(client, api)
    check_envelope(caught.value, 401, "Invalid API key")
    assert mock.requests() == []


@API
def test_missing_key_is_an_authentication_error(server, mock, api):
    # The SDK refuses to start without an api_key, but lets a request omit the header.
    with make_client(server, "unused", Capture()) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            call(client, api, extra_headers={"Authorization": openai.omit})
    assert "authorization" not in caught.value.request.headers
    check_envelope(caught.value, 401, "Missing API key")
    assert mock.requests() == []


@API
def test_missing_provider_key_is_a_bad_request(server, account, mock, api):
    with make_client(server, account.key, Capture(), provider_key=None) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            call(client, api)
    check_envelope(caught.value, 400, "Missing X-Provider-Key header")
    assert mock.requests() == []


@API
def test_exhausted_quota_is_a_rate_limit_error(server, exhausted_key, mock, api):
    with make_client(server, exhausted_key, Capture()) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            call(client, api)
    check_envelope(caught.value, 429, "token quota exceeded")
    assert mock.requests() == []


@API
def test_raw_missing_key_uses_the_openai_envelope(server, mock, api):
    path = "/v1/chat/completions" if api == "chat" else "/v1/responses"
    body = {"model": MODEL, "messages": [USER]} if api == "chat" else {"model": MODEL, "input": "Hi"}
    with http_client(base_url=server.url) as http:
        response = http.post(path, json=body, headers={"X-Provider-Key": PROVIDER_KEYS["openai"]})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Missing API key"
    assert response.json()["detail"] == "Missing API key"
    assert mock.requests() == []
