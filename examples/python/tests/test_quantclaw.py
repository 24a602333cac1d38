"""The Python binding against the real library ($QUANTCLAW_PLUGIN, set by ctest)."""

import json
import pathlib
import sys
import threading

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import quantclaw  # noqa: E402

EXAMPLES = pathlib.Path(__file__).resolve().parents[2]
CONFIG = json.loads((EXAMPLES / "configs" / "router.json").read_text())
EPISODE = [json.loads(line) for line in (EXAMPLES / "episodes" / "research-agent.jsonl").read_text().splitlines()]


@pytest.fixture
def router():
    with quantclaw.Router(CONFIG) as created:
        yield created


def test_replays_the_example_episode_like_the_cli(router):
    tiers = []
    for record in EPISODE:
        if "outcome" in record:
            router.report_outcome(record["outcome"])
            continue
        router.on_step(record)
        tiers.append(router.choose_precision(record["session_id"]).tier_name)
    # The same decisions `quantclaw route` prints for this config and episode (tests/cli).
    assert tiers == ["w4a16", "fp8", "w4a16", "bf16", "bf16", "fp8", "fp8", "bf16", "bf16"]


def test_decision_fields(router):
    router.on_step({"session_id": "s", "hints": {"step_kind": "search"}})
    decision = router.choose_precision("s")
    assert decision.tier_name == "bf16"
    assert decision.tier_index == 0
    assert decision.forced
    assert decision.score is None
    assert decision.step_kind == "search"
    assert decision.reason == "forced: /policy/force/0 matched (step_kind search)"


def test_protobuf_bytes_are_accepted(router):
    # Step{session_id: "p", hints{step_kind: "search"}} in protobuf wire format.
    step = b"\x0a\x01p" + b"\x2a\x08\x0a\x06search"
    router.on_step(step)
    assert router.choose_precision("p").tier_name == "bf16"


def test_invalid_config_lists_pointers():
    with pytest.raises(quantclaw.ConfigError) as raised:
        quantclaw.Router({"tiers": [{"name": "a", "format": "bf16", "model": "m", "base_url": "ftp://x"}]})
    assert raised.value.status == quantclaw.QC_ERR_INVALID_CONFIG
    assert raised.value.problems == [("/tiers/0/base_url", 'malformed URL: unsupported scheme "ftp" (expected http or https)')]
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("config", [None, 42, ["tiers"]])
def test_wrong_config_types_are_type_errors(config):
    with pytest.raises(TypeError):
        quantclaw.Router(config)


@pytest.mark.parametrize("step", [None, 3, ["session_id"], object()])
def test_wrong_step_types_are_type_errors(router, step):
    with pytest.raises(TypeError):
        router.on_step(step)


def test_choose_with_a_non_string_session_is_a_type_error(router):
    with pytest.raises(TypeError):
        router.choose_precision(None)


def test_unknown_session(router):
    with pytest.raises(quantclaw.UnknownSessionError) as raised:
        router.choose_precision("nobody")
    assert 'unknown session "nobody"' in str(raised.value)
    assert isinstance(raised.value, KeyError)


def test_bad_step_carries_the_library_message(router):
    with pytest.raises(quantclaw.QuantClawError) as raised:
        router.on_step({"session_id": "s", "messages": [{"role": 7}]})
    assert raised.value.status == quantclaw.QC_ERR_PARSE
    assert "/messages/0/role: expected a string" in str(raised.value)


def test_closed_router_reports_the_library_bad_handle():
    router = quantclaw.Router(CONFIG)
    router.close()
    with pytest.raises(quantclaw.QuantClawError) as raised:
        router.on_step({"session_id": "s"})
    assert raised.value.status == quantclaw.QC_ERR_BAD_HANDLE
    assert "already freed" in str(raised.value)
    router.close()  # closing twice is harmless


def test_reload_and_metrics(router):
    router.on_step({"session_id": "s"})
    router.choose_precision("s")
    all_high = dict(CONFIG, policy={"scorer": {"kind": "rules", "default_score": 1.0, "rules": []}})
    router.reload(all_high)
    assert router.choose_precision("s").tier_name == "bf16"
    with pytest.raises(quantclaw.ConfigError):
        router.reload({"tiers": []})
    text = router.metrics()
    assert "quantclaw_decisions_total 2\n" in text
    assert "quantclaw_config_reloads_total 1\n" in text


def test_end_session(router):
    router.on_step({"session_id": "s"})
    router.end_session("s")
    with pytest.raises(quantclaw.UnknownSessionError):
        router.end_session("s")


def test_threads_share_a_router(router):
    failures = []

    def agent(number):
        session = f"thread-{number}"
        try:
            for step in range(20):
                router.on_step({"session_id": session, "step_index": step})
                if router.choose_precision(session).step_index != step:
                    failures.append((session, step))
        except Exception as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
