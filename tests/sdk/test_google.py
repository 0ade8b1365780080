"""The official `google-genai` SDK through mintoken: generateContent and
streamGenerateContent, plus raw calls for what the SDK cannot express (the
`/v1/generateContent` route with `model` in the body, other key placements).

The SDK puts the mintoken key in `x-goog-api-key`; mintoken must move the provider key
to `?key=` upstream. This SDK generation defaults to API version `v1`; `v1beta` is
selected through `HttpOptions.api_version`.
"""

from __future__ import annotations

import base64

import pytest
from google import genai
from google.genai import errors, types

from mintoken_harness import (
    FULL,
    MOCK_REPLY,
    PNG_BYTES,
    PROVIDER_KEYS,
    Capture,
    assert_google_credential,
    assert_mintoken_headers,
    assert_no_mintoken_secrets,
    expect_google,
    http_client,
)

MODEL = "gemini-2.5-flash"
PROMPT = "How do I undo my last git commit?"
VERSIONS = pytest.mark.parametrize("version", ["v1", "v1beta"])


def make_client(server, key: str, capture: Capture, *, version: str | None = None, provider_key=PROVIDER_KEYS["google"]):
    headers = {"X-Provider-Key": provider_key} if provider_key else {}
    return genai.Client(
        api_key=key,
        http_options=types.HttpOptions(
            base_url=server.url,
            api_version=version,
            headers=headers,
            # One attempt: no retries, also none of the SDK's implicit connection retries.
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_client=capture.client(),
        ),
    )



@pytest.fixture
def client(server, account, capture):
    return make_client(server, account.key, capture)


def check_upstream(mock, account, capture, action: str = "generateContent"):
    """The single upstream request: same version and model path as the SDK called,
    provider key in `?key=`, the SDK's other query parameters kept, no mintoken secret."""
    upstream = mock.only_request()
    sent_path = capture.sent.url.path
    assert sent_path.endswith(f"/models/{MODEL}:{action}")
    assert (upstream.method, upstream.path) == ("POST", sent_path)
    assert_google_credential(upstream)
    assert_no_mintoken_secrets(upstream, account.key)
    sent_query = dict(capture.sent.url.params)
    assert {k: v[0] for k, v in upstream.query_params().items() if k != "key"} == sent_query
    return upstream


@VERSIONS
def test_plain_call(server, account, capture, mock, version):
    client = make_client(server, account.key, capture, version=version)
    response = client.models.generate_content(
        model=MODEL,
        contents=PROMPT,
        config=types.GenerateContentConfig(temperature=0.2, max_output_tokens=200),
    )

    assert capture.sent.url.path == f"/{version}/models/{MODEL}:generateContent"
    assert response.text == MOCK_REPLY
    assert response.usage_metadata.candidates_token_count == len(MOCK_REPLY.split())
    assert_mintoken_headers(capture.response_headers, "full")

    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_google(capture.sent_json(), FULL)
    assert upstream.json()["systemInstruction"] == {"parts": [{"text": FULL}]}


@VERSIONS
def test_streaming_call(server, account, capture, mock, version):
    client = make_client(server, account.key, capture, version=version)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))

    assert "".join(chunk.text for chunk in chunks) == MOCK_REPLY
    assert len(chunks) > 1, "the answer should arrive as several events"
    assert_mintoken_headers(capture.response_headers, "full")

    upstream = check_upstream(mock, account, capture, "streamGenerateContent")
    assert upstream.query_params().get("alt") == ["sse"]
    assert upstream.json() == expect_google(capture.sent_json(), FULL)


def test_function_call(client, capture, mock, account):
    declaration = types.FunctionDeclaration(
        name="get_weather",
        description="Current weather for a city.",
        parameters=types.Schema(
            type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]
        ),
    )
    response = client.models.generate_content(
        model=MODEL,
        contents="Weather in Paris?",
        config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[declaration])]),
    )

    assert [(call.name, call.args) for call in response.function_calls] == [("get_weather", {})]

    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_google(capture.sent_json(), FULL)
    assert upstream.json()["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


def test_inline_image_arrives_byte_identical(client, capture, mock, account):
    response = client.models.generate_content(
        model=MODEL,
        contents=[types.Part.from_bytes(data=PNG_BYTES, mime_type="image/png"), "What is in this image?"],
    )

    assert response.text == MOCK_REPLY
    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_google(capture.sent_json(), FULL)
    # The SDK encodes with the URL-safe alphabet; whatever it sent must arrive as is.
    sent_data = capture.sent_json()["contents"][0]["parts"][0]["inlineData"]["data"]
    forwarded_data = upstream.json()["contents"][0]["parts"][0]["inlineData"]["data"]
    assert forwarded_data == sent_data
    assert base64.urlsafe_b64decode(forwarded_data) == PNG_BYTES
    assert sent_data in upstream.body


def test_system_instruction_gets_the_skill_prepended(client, capture, mock, account):
    response = client.models.generate_content(
        model=MODEL,
        contents=PROMPT,
        config=types.GenerateContentConfig(system_instruction="You are a release engineer."),
    )

    assert response.text == MOCK_REPLY
    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == expect_google(capture.sent_json(), FULL)
    first_part = upstream.json()["systemInstruction"]["parts"][0]["text"]
    assert first_part.startswith(FULL)
    assert first_part == f"{FULL}\n\nYou are a release engineer."


def test_intensity_none_forwards_the_body_untouched(client, capture, mock, account):
    client.models.generate_content(
        model=MODEL,
        contents=PROMPT,
        config=types.GenerateContentConfig(
            system_instruction="Be brief.",
            http_options=types.HttpOptions(headers={"X-Mintoken-Intensity": "none"}),
        ),
    )

    assert_mintoken_headers(capture.response_headers, "none")
    upstream = check_upstream(mock, account, capture)
    assert upstream.json() == capture.sent_json()


# --------------------------------------------------------------------------------------
# Raw calls: the body-model route and every place the mintoken key may be given
# --------------------------------------------------------------------------------------


def test_generate_content_with_model_in_body_and_key_in_query(server, account, mock):
    sent = {
        "model": MODEL,
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {"temperature": 0.2},
    }
    with http_client(base_url=server.url) as http:
        response = http.post(
            "/v1/generateContent",
            params={"key": account.key},
            headers={"X-Provider-Key": PROVIDER_KEYS["google"]},
            json=sent,
        )

    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == MOCK_REPLY
    assert_mintoken_headers(response.headers, "full")

    upstream = mock.only_request()
    assert upstream.path == f"/v1beta/models/{MODEL}:generateContent"
    assert_google_credential(upstream)
    assert_no_mintoken_secrets(upstream, account.key)
    forwarded = upstream.json()
    assert "model" not in forwarded
    assert forwarded == expect_google({k: v for k, v in sent.items() if k != "model"}, FULL)


@pytest.mark.parametrize("placement", ["x-goog-api-key", "authorization-bearer", "query-key"])
def test_every_way_of_presenting_the_mintoken_key(server, account, mock, placement):
    headers = {"X-Provider-Key": PROVIDER_KEYS["google"]}
    params = {}
    if placement == "x-goog-api-key":
        headers["x-goog-api-key"] = account.key
    elif placement == "authorization-bearer":
        headers["Authorization"] = f"Bearer {account.key}"
    else:
        params["key"] = account.key
    with http_client(base_url=server.url) as http:
        response = http.post(
            f"/v1beta/models/{MODEL}:generateContent",
            params=params,
            headers=headers,
            json={"contents": [{"parts": [{"text": PROMPT}]}]},
        )

    assert response.status_code == 200, response.text
    upstream = mock.only_request()
    assert upstream.path == f"/v1beta/models/{MODEL}:generateContent"
    assert_google_credential(upstream)
    assert_no_mintoken_secrets(upstream, account.key)


# --------------------------------------------------------------------------------------
# Errors mintoken raises itself
# --------------------------------------------------------------------------------------


def call(client):
    return client.models.generate_content(model=MODEL, contents=PROMPT)


# Google's canonical status names for the HTTP statuses mintoken raises.
STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED"}


def check_envelope(body: dict, status: int, message: str) -> None:
    assert body["error"] == {"code": status, "message": message, "status": STATUSES[status]}
    assert body["detail"] == message


def check_client_error(error: errors.ClientError, status: int, message: str) -> None:
    assert error.code == status
    assert error.message == message
    assert message in str(error)
    check_envelope(error.details, status, message)


@pytest.mark.parametrize(
    "bad_key",
    [
        pytest.param("AIzaNotAMintokenKey", id="wrong-format"),
        pytest.param("mt_live_" + "A" * 40, id="unknown"),
        pytest.param(None, id="revoked"),
    ],
)
def test_invalid_key_is_a_client_error(server, account, mock, bad_key):
    client = make_client(server, bad_key or account.revoked_key, Capture())
    with pytest.raises(errors.ClientError) as caught:
        call(client)
    check_client_error(caught.value, 401, "Invalid API key")
    assert mock.requests() == []


def test_missing_provider_key_is_a_client_error(server, account, mock):
    client = make_client(server, account.key, Capture(), provider_key=None)
    with pytest.raises(errors.ClientError) as caught:
        call(client)
    check_client_error(caught.value, 400, "Missing X-Provider-Key header")
    assert mock.requests() == []


def test_exhausted_quota_is_a_client_error(server, exhausted_key, mock):
    client = make_client(server, exhausted_key, Capture())
    with pytest.raises(errors.ClientError) as caught:
        call(client)
    check_client_error(caught.value, 429, "token quota exceeded")
    assert mock.requests() == []


def test_missing_key_uses_the_google_envelope(server, mock):
    # The SDK cannot send a request without an API key, so this one is raw.
    with http_client(base_url=server.url) as http:
        response = http.post(
            f"/v1beta/models/{MODEL}:generateContent",
            headers={"X-Provider-Key": PROVIDER_KEYS["google"]},
            json={"contents": [{"parts": [{"text": PROMPT}]}]},
        )
    assert response.status_code == 401
    check_envelope(response.json(), 401, "Missing API key")
    assert mock.requests() == []
