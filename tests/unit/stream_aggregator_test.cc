// StreamAggregator's two ways of reading an event, the fast one (ChunkReader, no JSON document) and the
// document one, must fold any stream into the same response: the document path is the reference.
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "backend/chunk_reader.h"
#include "backend/completion.h"

namespace quantclaw {
namespace {

struct Folded {
  std::string response;
  std::vector<std::string> statuses;
  std::vector<bool> held;  // last_had_tool_calls after each event
  Usage usage;
  size_t events = 0;
};

Folded Fold(const std::vector<std::string>& events, bool chat, bool fast) {
  StreamAggregator aggregator(chat, fast);
  Folded folded;
  for (const std::string& event : events) {
    folded.statuses.push_back(aggregator.Add(event).ToString());
    folded.held.push_back(aggregator.last_had_tool_calls());
  }
  folded.response = aggregator.Finish();
  folded.usage = aggregator.usage();
  folded.events = aggregator.events();
  return folded;
}

void ExpectSameFold(const std::vector<std::string>& events, bool chat) {
  Folded fast = Fold(events, chat, true);
  Folded document = Fold(events, chat, false);
  std::string trace;
  for (const std::string& event : events) trace += event + "\n";
  EXPECT_EQ(fast.response, document.response) << trace;
  EXPECT_EQ(fast.statuses, document.statuses) << trace;
  EXPECT_EQ(fast.held, document.held) << trace;
  EXPECT_EQ(fast.usage.prompt_tokens, document.usage.prompt_tokens) << trace;
  EXPECT_EQ(fast.usage.completion_tokens, document.usage.completion_tokens) << trace;
  EXPECT_EQ(fast.usage.cached_tokens, document.usage.cached_tokens) << trace;
  EXPECT_EQ(fast.events, document.events) << trace;
}

TEST(ChunkReader, ReadsAPlainContentDelta) {
  ChunkReader reader;
  ASSERT_TRUE(reader.Read(
      R"({"choices":[{"finish_reason":null,"index":0,"delta":{"content":" the \"cat\"\n\u00e9"}}],)"
      R"("created":1763916000,"id":"chatcmpl-1","model":"tiny-f16","object":"chat.completion.chunk"})"));
  const ChunkFields& fields = reader.fields();
  EXPECT_EQ(fields.id, "chatcmpl-1");
  EXPECT_EQ(fields.model, "tiny-f16");
  EXPECT_TRUE(fields.has_created);
  EXPECT_EQ(fields.created, 1763916000);
  EXPECT_TRUE(fields.has_choice);
  EXPECT_TRUE(fields.has_delta);
  EXPECT_EQ(fields.content, " the \"cat\"\n\xC3\xA9");
  EXPECT_EQ(fields.finish_reason, "");
}

TEST(ChunkReader, LeavesRichOrBrokenEventsToTheDocumentPath) {
  ChunkReader reader;
  EXPECT_FALSE(reader.Read(R"({"choices":[],"usage":{"prompt_tokens":3}})"));
  EXPECT_FALSE(reader.Read(R"({"choices":[{"delta":{"tool_calls":[{"index":0}]}}]})"));
  EXPECT_FALSE(reader.Read(R"({"choices":[{"delta":{},"logprobs":{"content":[]}}]})"));
  EXPECT_FALSE(reader.Read(R"({"choices":[)"));
  EXPECT_FALSE(reader.Read(R"([1,2])"));
  EXPECT_FALSE(reader.Read(R"("text")"));
  EXPECT_FALSE(reader.Read(R"({} {})"));
  EXPECT_FALSE(reader.Read(""));
  // null where a rich container may stand is plain (vLLM sends "logprobs": null in every chunk).
  EXPECT_TRUE(reader.Read(R"({"choices":[{"delta":{"content":"a"},"logprobs":null}],"usage":null})"));
  // Rich keys where the aggregate does not look (choices[1]) stay plain too.
  EXPECT_TRUE(reader.Read(R"({"choices":[{"delta":{}},{"delta":{"tool_calls":[{}]}}]})"));
}

// A server reporting a failure mid-stream (vLLM: {"error": {...}} and then [DONE]) fails the stream in
// both paths, with the server's message and code; a null "error" is no error.
TEST(StreamAggregator, AServersErrorEventFailsTheStream) {
  const std::string vllm =
      R"({"error": {"object": "error", "message": "max_tokens is too large", "type": "BadRequestError", "code": 400}})";
  for (bool fast : {true, false}) {
    StreamAggregator aggregator(/*chat=*/true, fast);
    ASSERT_TRUE(aggregator.Add(R"({"id":"c","choices":[{"index":0,"delta":{"content":"par"}}]})").ok());
    absl::Status status = aggregator.Add(vllm);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(status.message().find("max_tokens is too large (BadRequestError), code 400"), std::string::npos)
        << status;
    EXPECT_TRUE(aggregator.server_error());
    EXPECT_EQ(aggregator.server_error_code(), 400);
    EXPECT_EQ(aggregator.events(), 1u);

    StreamAggregator plain(/*chat=*/true, fast);
    status = plain.Add(R"({"error": "the engine died"})");
    EXPECT_NE(status.message().find("the engine died"), std::string::npos) << status;
    EXPECT_EQ(plain.server_error_code(), 0);
    StreamAggregator string_code(/*chat=*/true, fast);
    EXPECT_FALSE(string_code.Add(R"({"error": {"message": "busy", "code": "503"}})").ok());
    EXPECT_EQ(string_code.server_error_code(), 503);

    StreamAggregator null_error(/*chat=*/true, fast);
    EXPECT_TRUE(null_error.Add(R"({"choices":[{"delta":{"content":"a"}}],"error":null})").ok());
    EXPECT_FALSE(null_error.server_error());
    // A broken event is no server error.
    EXPECT_FALSE(null_error.Add("{broken").ok());
    EXPECT_FALSE(null_error.server_error());
  }
  ChunkReader reader;
  EXPECT_FALSE(reader.Read(vllm));
  EXPECT_FALSE(reader.Read(R"({"choices":[{"delta":{"content":"a"}}],"error":"x"})"));
}

// The fast path must take what real servers send for plain tokens (else it saves nothing), and must
// leave to the document path whatever is not plainly valid JSON.
TEST(ChunkReader, TakesPlainEventsOfEveryUsualShape) {
  ChunkReader reader;
  const char* plain[] = {
      // UTF-8 as servers send it, and escapes of every kind, a surrogate pair included.
      "{\"choices\":[{\"delta\":{\"content\":\"caf\\u00e9 \xC3\xBC \xE6\x97\xA5 \xF0\x9F\x98\x80 \\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}}]}",
      // Fractions and nested values in fields the aggregate does not read.
      R"({"choices":[{"index":0,"delta":{"content":"x"},"score":-0.125,"extra":{"a":[1,2.5,{"b":null}]}}],"p":0})",
      // White space wherever JSON allows it.
      " \t\r\n{ \"choices\" : [ { \"delta\" : { \"content\" : \"x\" } } ] , \"created\" : 12 } \n",
      // llama-server's /v1/completions token.
      R"({"choices":[{"text":" come","index":0,"logprobs":null,"finish_reason":null}],"created":1795453558,"model":"tiny-q4_0","system_fingerprint":"b1-de3ff81","object":"text_completion","id":"chatcmpl-e"})",
  };
  for (const char* event : plain) EXPECT_TRUE(reader.Read(event)) << event;
  ASSERT_TRUE(reader.Read(plain[0]));
  EXPECT_EQ(reader.fields().content,
            "caf\xC3\xA9 \xC3\xBC \xE6\x97\xA5 \xF0\x9F\x98\x80 \xF0\x9F\x98\x80 \" \\ / \b\f\n\r\t");
  const char* declined[] = {
      "{\"choices\":[{\"delta\":{\"content\":\"bad utf8 \xff\"}}]}",
      "{\"choices\":[{\"delta\":{\"content\":\"overlong \xc0\xaf\"}}]}",
      "{\"choices\":[{\"delta\":{\"content\":\"a surrogate in utf8 \xed\xa0\x80\"}}]}",
      "{\"choices\":[{\"delta\":{\"content\":\"cut \xe6\x97\"}}]}",
      R"({"choices":[{"delta":{"content":"lone \udc00"}}]})",
      R"({"choices":[{"delta":{"content":"half \ud83d"}}]})",
      "{\"choices\":[{\"delta\":{\"content\":\"raw\ttab\"}}]}",
      R"({"a":01})",
      R"({"a":1.})",
      R"({"a":1e5})",
      R"({"a":-})",
      R"({"a":1234567890123456789})",
      R"({"a":[1,]})",
      R"({"a":1,})",
      R"({"a" 1})",
      R"({"a":tru})",
      R"({"a":"\x"})",
      R"({"created":-5})",
      R"({"created":1.5})",
  };
  for (const char* event : declined) EXPECT_FALSE(reader.Read(event)) << event;
}

TEST(StreamAggregator, BothPathsFoldRealStreamsAlike) {
  // llama-server, chat, with a reasoning model's deltas and the final usage chunk with timings.
  ExpectSameFold({
      R"({"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1763916000,"id":"chatcmpl-a","model":"tiny","object":"chat.completion.chunk"})",
      R"({"choices":[{"finish_reason":null,"index":0,"delta":{"reasoning_content":"think"}}],"created":1763916000,"id":"chatcmpl-a","model":"tiny","object":"chat.completion.chunk"})",
      R"({"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Hello"}}],"created":1763916000,"id":"chatcmpl-a","model":"tiny","object":"chat.completion.chunk"})",
      R"({"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1763916001,"id":"chatcmpl-a","model":"tiny","object":"chat.completion.chunk"})",
      R"({"choices":[],"created":1763916001,"id":"chatcmpl-a","model":"tiny","object":"chat.completion.chunk","usage":{"completion_tokens":3,"prompt_tokens":9,"total_tokens":12},"timings":{"cache_n":4}})",
  }, true);
  // vLLM: "logprobs": null and "stop_reason" in each choice, a tool call split across events.
  ExpectSameFold({
      R"({"id":"cmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})",
      R"({"id":"cmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_1","type":"function","index":0,"function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]})",
      R"({"id":"cmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]})",
      R"({"id":"cmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"tool_calls","stop_reason":null}]})",
  }, true);
  // vLLM since RFC #27755: the thinking as "reasoning"; with its compatibility shim, as both names at once.
  ExpectSameFold({
      R"({"id":"chatcmpl-r","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})",
      R"({"id":"chatcmpl-r","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning":"Let me think"},"logprobs":null,"finish_reason":null}]})",
      R"({"id":"chatcmpl-r","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning":" \u00e9","reasoning_content":" \u00e9"},"logprobs":null,"finish_reason":null}]})",
      R"({"id":"chatcmpl-r","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Done."},"logprobs":null,"finish_reason":"stop"}]})",
  }, true);
  // Legacy completions, with logprobs in the completions shape.
  ExpectSameFold({
      R"({"id":"c","object":"text_completion","created":5,"model":"m","choices":[{"index":0,"text":"Hi","logprobs":null,"finish_reason":null}]})",
      R"({"id":"c","object":"text_completion","created":5,"model":"m","choices":[{"index":0,"text":"!","logprobs":{"tokens":["!"],"token_logprobs":[-1.5],"top_logprobs":[{"!":-1.5}]},"finish_reason":"stop"}]})",
  }, false);
}

// A reasoning model's thinking reaches the host under the name its server streamed it as: "reasoning"
// (vLLM since RFC #27755) or "reasoning_content" (llama-server, SGLang, older vLLM), never dropped, and
// not doubled when a server sends both names with the same text.
TEST(StreamAggregator, KeepsReasoningUnderTheNameTheServerUsed) {
  const std::string think = R"({"choices":[{"index":0,"delta":{"reasoning":"a"}}]})";
  const std::string think_more = R"({"choices":[{"index":0,"delta":{"reasoning":"b\u00e9"}}]})";
  const std::string old_name = R"({"choices":[{"index":0,"delta":{"reasoning_content":"c"}}]})";
  const std::string both = R"({"choices":[{"index":0,"delta":{"reasoning":"d","reasoning_content":"d"}}]})";
  const std::string answer = R"({"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]})";
  for (bool fast : {true, false}) {
    SCOPED_TRACE(fast ? "fast path" : "document path");
    auto message = [&](const std::vector<std::string>& events) {
      Folded folded = Fold(events, /*chat=*/true, fast);
      return boost::json::parse(folded.response).at_pointer("/choices/0/message").as_object();
    };
    boost::json::object only_new = message({think, think_more, answer});
    EXPECT_EQ(only_new.at("reasoning").as_string(), "ab\xc3\xa9");
    EXPECT_FALSE(only_new.contains("reasoning_content"));
    EXPECT_EQ(only_new.at("content").as_string(), "x");
    boost::json::object only_old = message({old_name, answer});
    EXPECT_EQ(only_old.at("reasoning_content").as_string(), "c");
    EXPECT_FALSE(only_old.contains("reasoning"));
    boost::json::object twice = message({both, answer});
    EXPECT_EQ(twice.at("reasoning").as_string(), "d");
    EXPECT_EQ(twice.at("reasoning_content").as_string(), "d");
  }
}

// llama-server streams /v1/completions with logprobs in the chat shape ({"content": [...]}).
TEST(StreamAggregator, KeepsChatShapedLogprobsOfALegacyCompletion) {
  StreamAggregator aggregator(/*chat=*/false);
  ASSERT_TRUE(aggregator.Add(R"({"choices":[{"text":" come","index":0,"logprobs":{"content":[{"token":" come","logprob":-1.7}]}}]})").ok());
  ASSERT_TRUE(aggregator.Add(R"({"choices":[{"text":"re","index":0,"logprobs":{"content":[{"token":"re","logprob":-1.6}]}}]})").ok());
  const std::string response = aggregator.Finish();
  EXPECT_NE(response.find(R"("text":" comere")"), std::string::npos) << response;
  EXPECT_NE(response.find(R"("logprobs":{"content":[{"token":" come","logprob":-1.7E0},{"token":"re","logprob":-1.6E0}]})"),
            std::string::npos)
      << response;
}

TEST(StreamAggregator, BothPathsAgreeOnOddEvents) {
  const std::vector<std::string> odd = {
      R"({"id":"a","id":"b","model":"x","model":5,"created":1,"created":"late"})",
      R"({"choices":[{"delta":{"content":"one"}}],"choices":[{"delta":{"content":"two"}}]})",
      R"({"choices":[{"delta":{"content":"x","content":"y"},"delta":{"role":"tool"}}]})",
      R"({"choices":{"0":{"delta":{"content":"not an array"}}}})",
      R"({"choices":[5,{"delta":{"content":"second choice"}}]})",
      R"({"choices":[{"delta":"text","text":"t"}]})",
      R"({"choices":[{"delta":{"content":{"nested":"object"}}}]})",
      R"({"choices":[{"delta":{"content":["a","b"]},"finish_reason":7}]})",
      R"({"created":1.5})",
      R"({"created":2.0})",
      R"({"created":1e300})",
      R"({"created":-12})",
      R"({"created":18446744073709551615})",
      R"({"choices":[{"delta":{"tool_calls":[]}}]})",
      R"({"choices":[{"delta":{"tool_calls":"none"}}]})",
      R"({"choices":[{"logprobs":[1,2],"delta":{"content":"lp"}}]})",
      R"({"usage":[1],"choices":[]})",
      R"({"usage":{"prompt_tokens":1e300,"completion_tokens":-4}})",
      R"({"choices":[{"delta":{"role":"","content":"\ud83d\ude00 \\ \/"}}]})",
      R"({"deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})",
      R"({"choices":[{"delta":{"content":"after the deep one"}}]})",
      "not json",
      R"({"choices":[{"delta":{"content":"bad utf8 \xff"}}]})",
      R"({"choices":[{"finish_reason":"stop","text":"legacy text in a chat stream"}]})",
      R"({"choices":[{"delta":{"content":"a"}}],"error":null})",
      R"({"choices":[{"delta":{"content":"a"}}],"error":"late"})",
      R"({"error":{"message":"m","code":"503"}})",
      R"({"choices":[{"delta":{"error":{"message":"not top-level"}}}]})",
  };
  for (const std::string& event : odd) {
    ExpectSameFold({event}, true);
    ExpectSameFold({event}, false);
  }
  ExpectSameFold(odd, true);
  ExpectSameFold(odd, false);
}

// Events built from random pieces: keys in any order, repeated, misplaced, with values of every kind.
TEST(StreamAggregator, BothPathsAgreeOnRandomEvents) {
  std::mt19937 random(20261123);
  const std::vector<std::string> values = {
      R"("s")", R"("")", R"("\u00e9\n")", "null", "true", "0", "-1", "1.5", "17", "[]", "{}", R"(["a"])",
      R"({"content":"c"})", R"([{"delta":{"content":"d"}}])", R"({"prompt_tokens":2})",
      R"("caf\u00e9 \ud83d\ude00 \" \\ \n")", "\"\xC3\xBC\xE6\x97\xA5\"", "\"\xff\"", R"("\udc00")", "1e2", "-0",
      "1.25", "12345678901234567890", "1763916000"};
  const std::vector<std::string> keys = {"id", "model", "created", "choices", "usage", "delta", "content", "role",
                                         "reasoning_content", "reasoning", "text", "finish_reason", "logprobs", "tool_calls",
                                         "index", "other"};
  auto pick = [&](const std::vector<std::string>& from) { return from[random() % from.size()]; };
  std::function<std::string(int)> object = [&](int depth) {
    std::string out = "{";
    const int fields = int(random() % 4);
    for (int i = 0; i < fields; ++i) {
      if (i > 0) out += ",";
      out += "\"" + pick(keys) + "\":";
      const unsigned kind = random() % 4;
      if (depth < 3 && kind == 0) {
        out += object(depth + 1);
      } else if (depth < 3 && kind == 1) {
        out += "[" + object(depth + 1) + (random() % 2 ? "," + pick(values) : "") + "]";
      } else {
        out += pick(values);
      }
    }
    return out + "}";
  };
  for (int stream = 0; stream < 400; ++stream) {
    std::vector<std::string> events;
    for (int i = 0; i < 6; ++i) events.push_back(object(0));
    ExpectSameFold(events, stream % 2 == 0);
    if (HasFailure()) return;
  }
}

// Found by fuzz_stream: a tool call's index of 1.5, 1e90 or 2^64-1 made Boost.JSON's to_number throw out
// of Add (std::terminate in a host). It is a malformed stream, said so on both paths, never an exception.
TEST(StreamAggregator, AToolCallIndexThatIsNotAWholeNumberFailsTheEvent) {
  for (const std::string index : {"1.5", "1e90", "18446744073709551615", "-1e30"}) {
    const std::vector<std::string> events = {
        R"({"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})",
        R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_1","type":"function","index":)" +
            index + R"(,"function":{"name":"get_weather","arguments":""}}]}}]})"};
    for (bool fast : {true, false}) {
      Folded folded = Fold(events, /*chat=*/true, fast);
      ASSERT_EQ(folded.statuses.size(), 2u);
      EXPECT_EQ(folded.statuses[0], "OK") << index;
      EXPECT_NE(folded.statuses[1].find("a tool call's index is not a whole number"), std::string::npos)
          << index << ": " << folded.statuses[1];
    }
  }
  // 3.0 is a whole number: the call is merged at index 3.
  const std::vector<std::string> whole = {
      R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_1","type":"function","index":3.0,"function":{"name":"f","arguments":"{}"}}]}}]})"};
  EXPECT_EQ(Fold(whole, true, false).statuses[0], "OK");
  ExpectSameFold(whole, true);
}

TEST(WholeNumber, TakesOnlyWholeNumbersInRange) {
  int64_t out = 7;
  EXPECT_TRUE(WholeNumber(42.0, &out));
  EXPECT_EQ(out, 42);
  EXPECT_TRUE(WholeNumber(-3.0, &out));
  EXPECT_EQ(out, -3);
  out = 7;
  EXPECT_FALSE(WholeNumber(1.5, &out));
  EXPECT_FALSE(WholeNumber(1e300, &out));
  EXPECT_FALSE(WholeNumber(-1e300, &out));
  EXPECT_FALSE(WholeNumber(9.2233720368547758e18, &out));
  EXPECT_FALSE(WholeNumber(std::numeric_limits<double>::quiet_NaN(), &out));
  EXPECT_FALSE(WholeNumber(std::numeric_limits<double>::infinity(), &out));
  EXPECT_EQ(out, 7);
}

}  // namespace
}  // namespace quantclaw
