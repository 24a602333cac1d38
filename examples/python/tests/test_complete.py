"""Router.complete against the loopback OpenAI-compatible test server (tests/backend/openai_server.py)."""

import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import quantclaw  # noqa: E402

SERVER = pathlib.Path(__file__).resolve().parents[3] / "tests" / "backend" / "openai_server.py"


@pytest.fixture(scope="module")
def server_port():
    process = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline().split()[1])
    yield port
    process.stdin.close()
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def router(server_port):
    base = f"http://127.0.0.1:{server_port}/v1"
    config = {"tiers": [{"name": name, "format": "bf16", "model": name, "base_url": base}
                        for name in ("echo", "tool", "http500", "stall")],
              "reference_tier": "echo",
              "backend": {"first_byte_timeout_ms": 300, "retries": 0, "failover": False}}
    with quantclaw.Router(config) as created:
        yield created


BODY = {"model": "anything", "messages": [{"role": "user", "content": "hello"}]}


def test_complete_returns_the_tiers_answer(router):
    answer = router.complete("s", BODY)
    assert answer["choices"][0]["message"]["content"] == "echo: hello"
    assert answer["quantclaw"]["tier"] == "echo"


def test_streaming_passes_each_chunk(router):
    chunks = []
    answer = router.complete("s", BODY, chunks.append, hints={"force_tier": "tool"})
    assert len(chunks) == 5
    assert chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "get_weather"
    call = answer["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"city": "Paris"}'


def test_an_exception_in_the_callback_cancels_and_is_raised(router):
    def explode(chunk):
        raise RuntimeError("host gave up")

    with pytest.raises(RuntimeError, match="host gave up"):
        router.complete("s", BODY, explode)


def test_returning_false_cancels(router):
    with pytest.raises(quantclaw.Cancelled):
        router.complete("s", BODY, lambda chunk: False)


def test_tier_errors_are_connection_errors(router):
    with pytest.raises(quantclaw.TierError) as raised:
        router.complete("s", BODY, hints={"force_tier": "http500"})
    assert isinstance(raised.value, ConnectionError)
    assert "answered HTTP 500" in str(raised.value)
    with pytest.raises(TimeoutError):
        router.complete("s", BODY, hints={"force_tier": "stall"})


def test_wrong_types(router):
    with pytest.raises(TypeError):
        router.complete("s", None)
    with pytest.raises(TypeError):
        router.complete(None, BODY)
