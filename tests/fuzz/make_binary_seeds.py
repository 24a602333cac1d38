#!/usr/bin/env python3
"""Writes the fuzz seeds that are binary: protobuf-binary ABI inputs (corpus/*_proto), trace files
(corpus_trace/) and learned model files (corpus_model/). Run from anywhere; needs protoc. The outputs are committed, so run it only to change them.
"""
import os
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROTO = os.path.join(ROOT, 'proto')


def encode(message, text):
    """protoc --encode: the protobuf text format `text` of quantclaw.v1.`message` as binary."""
    return subprocess.run(
        ['protoc', f'-I{PROTO}', '-I/usr/include', f'--encode=quantclaw.v1.{message}',
         'quantclaw/v1/trace.proto', 'quantclaw/v1/step.proto'],
        input=text.encode(), capture_output=True, check=True).stdout


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def record(payload):
    """One framed trace record, as telemetry/trace_file.h lays it out."""
    length = struct.pack('<I', len(payload))
    return struct.pack('<I', 0x52544351) + length + struct.pack('<I', crc32c(length)) + payload + \
        struct.pack('<I', crc32c(payload))


def write(path, data):
    with open(os.path.join(HERE, path), 'wb') as out:
        out.write(data)


# fuzz_abi.cc: the first byte picks the call, odd = protobuf binary.
OUTCOME = '''session_id: "fz" step_index: 1 tier_name: "w4" input_tokens: 120 output_tokens: 12 cached_tokens: 64
latency_ms: 830.5 ttft_ms: 41.25 status: OUTCOME_STATUS_ERROR tool_call_valid: false episode_reward: 0.5
error_message: "tool call f: arguments are not a JSON object" http_status: 500'''
COMPLETE = '''session_id: "fz" endpoint: "chat" hints { step_kind: "act" task_type: "coding" }
body { fields { key: "model" value { string_value: "x" } }
       fields { key: "max_tokens" value { number_value: 8 } }
       fields { key: "messages" value { list_value { values { struct_value {
         fields { key: "role" value { string_value: "user" } }
         fields { key: "content" value { string_value: "debug this bug" } } } } } } }
       fields { key: "tools" value { list_value { values { struct_value {
         fields { key: "type" value { string_value: "function" } }
         fields { key: "function" value { struct_value { fields { key: "name" value { string_value: "f" } } } } } } } } } } }'''
STEP = '''session_id: "fz" step_index: 1
messages { role: "assistant" tool_calls { id: "c1" type: "function" function { name: "f" arguments: "{\\"a\\": 1}" } } }
messages { role: "tool" tool_call_id: "c1" is_error: true content { string_value: "error: no such file" } }
request { tools { type: "function" function { name: "f" parameters { fields { key: "type" value { string_value: "object" } } } } }
          max_tokens: 64 stream: true }
hints { step_kind: "act" }'''
write('corpus/outcome_proto', bytes([7]) + encode('Outcome', OUTCOME))
write('corpus/complete_proto', bytes([11]) + encode('CompleteRequest', COMPLETE))
write('corpus/step_proto_tools', bytes([3]) + encode('Step', STEP))
write('corpus/step_then_choose_proto', bytes([9]) + encode('Step', STEP))

# fuzz_trace.cc: whole files, a torn last record, damage in the middle, a record that is not a TraceRecord.
TRACE = [
    '''unix_ms: 1763900000000 session_id: "s1" step_index: 0
features { step_index: 0 context_tokens: 900 new_tokens: 900 turn_count: 1 tools_offered: 2 step_kind: "first"
           recent_tools: "read" text_hash: 0.5 text_hash: -0.5 task_type: "coding" }
decision { session_id: "s1" tier_index: 1 tier_name: "int4" score: 0.2 threshold: 0.5 reason: "low score" }''',
    '''unix_ms: 1763900000500 session_id: "s1" step_index: 1
outcome { session_id: "s1" step_index: 1 tier_name: "int4" input_tokens: 950 output_tokens: 40 status: OUTCOME_STATUS_OK
          tool_call_valid: true }
kl_divergence: 0.031 needs_high_precision: false''',
    '''unix_ms: 1763900001000 session_id: "s2" step_index: 0
decision { session_id: "s2" tier_name: "bf16" forced: true step_kind: "search" }''',
]
records = [record(encode('TraceRecord', text)) for text in TRACE]
header = b'QCTRACE1'
write('corpus_trace/three_records', header + b''.join(records))
write('corpus_trace/torn_tail', header + records[0] + records[1] + records[2][:len(records[2]) // 2])
damaged = bytearray(header + b''.join(records))
damaged[len(header) + len(records[0]) + 20] ^= 0x40  # a payload byte of the second record
write('corpus_trace/damaged_payload', bytes(damaged))
damaged = bytearray(header + b''.join(records))
damaged[len(header) + len(records[0]) + 5] ^= 0x01  # the second record's length
write('corpus_trace/damaged_length', bytes(damaged))
write('corpus_trace/not_a_record', header + record(b'\xff\xff\xff\xff') + records[2])
write('corpus_trace/header_only', header)
write('corpus_trace/truncated_header', header[:5])
write('corpus_trace/other_version', b'QCTRACE2' + records[0])

# Learned model files (policy/learned_model.h): payloads (the target also reads each input as the payload
# under a right header) and whole files.
def encode_model(text):
    return subprocess.run(
        ['protoc', f'-I{PROTO}', '--encode=quantclaw.v1.LearnedModel', 'quantclaw/v1/learned_model.proto'],
        input=text.encode(), capture_output=True, check=True).stdout


def model_file(payload):
    return b'QCMODEL1' + struct.pack('<II', len(payload), crc32c(payload)) + payload


def floats(field, values):
    return ' '.join(f'{field}: {value!r}' for value in values)


def layer(inputs, outputs, seed):
    weights = [((k * seed) % 13 - 6) / 20 for k in range(inputs * outputs)]
    biases = [0.1 * (k % 3 - 1) for k in range(outputs)]
    return f'layers {{ inputs: {inputs} outputs: {outputs} {floats("weights", weights)} {floats("biases", biases)} }}'


FEATURES = 163
MODEL_HEAD = f'format_version: 1 feature_set: "quantclaw.step.v1" feature_count: {FEATURES} '
logistic = encode_model(MODEL_HEAD + floats('feature_mean', [0.1] * FEATURES) + ' ' +
                        floats('feature_scale', [2.0] * FEATURES) +
                        ' logistic { ' + floats('weights', [((i * 37) % 11 - 5) / 10 for i in range(FEATURES)]) +
                        ' bias: 0.25 } provenance: "seed"')
mlp = encode_model(MODEL_HEAD + 'mlp { ' + layer(FEATURES, 4, 7) + ' ' + layer(4, 2, 5) + ' ' + layer(2, 1, 3) +
                   ' } label_kl_threshold: 0.05 calibrations { budget: 0.3 threshold: 0.6 }')
write('corpus_model/logistic_payload', logistic)
write('corpus_model/mlp_payload', mlp)
write('corpus_model/logistic_file', model_file(logistic))
write('corpus_model/mlp_file', model_file(mlp))
write('corpus_model/version_2_payload', encode_model('format_version: 2') + logistic[2:])
write('corpus_model/truncated_file', model_file(mlp)[:300])
write('corpus_model/empty', b'')
