#!/usr/bin/env python3
"""Write a tiny, deterministic llama-architecture GGUF model.

Why this exists: the tier tests and the demo need real llama.cpp model
servers (an f16 "reference" tier plus quantized Q8_0 / Q4_0 tiers made with
`llama-quantize`), but no model can be downloaded on the machines that run
them. This script fabricates one from a seed instead: a 2-layer llama with a
SentencePiece-style byte-fallback vocabulary and a ChatML chat template, so
`llama-server` serves /v1/completions and /v1/chat/completions with it.

The weights are random, so the text it writes is gibberish, but the tiers
still behave like a real model family: quantization perturbs the logits by a
measurable amount (f16 vs Q4_0 disagree on a sizeable fraction of top-1
tokens), which is what the precision router is tested against.

Python 3.11 standard library only (no numpy, no gguf package), so it runs
anywhere the tests run.

Usage: python3 make_tiny_gguf.py OUT.gguf [--seed 1234]
"""

import argparse
import random
import struct
import sys

# --- Model shape -----------------------------------------------------------
# Every row length (n_embd, n_ff) is a multiple of 256, so llama-quantize can
# use Q4_0/Q8_0 (blocks of 32) and also the K-quants (blocks of 256) it may
# pick for token_embd/output.
N_EMBD = 256
N_FF = 768
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 4
HEAD_DIM = N_EMBD // N_HEAD
CONTEXT_LENGTH = 16384  # the demo episode and the tool schemas render to several thousand tokens
RMS_EPS = 1e-5
ROPE_FREQ_BASE = 10000.0

# --- Weight scales ---------------------------------------------------------
# Matrices use std 1/sqrt(fan_in) so every layer contributes O(1) to the
# residual stream and attention scores are not uniform; otherwise the model
# would ignore its context and quantization noise would barely show.
# Embeddings are O(1) to match. The output projection scale sets the logit
# spread: after the final RMS norm the hidden state has rms 1, so logits have
# std ~ OUTPUT_STD * sqrt(N_EMBD) = ~3 nats -- peaked enough that top-1 and
# top-k are meaningful, flat enough that Q4_0 noise flips some of them.
EMBED_STD = 1.0
OUTPUT_STD = 0.19

# Llama has no output bias, so to keep the random model from spewing raw
# byte tokens (invalid UTF-8, control characters) and special tokens we fake
# one: every token embedding carries the constant BIAS_ACTIVATION in
# dimension 0, which survives the residual stream, and the output rows of
# unwanted tokens weigh that dimension by -SUPPRESS_WEIGHT, lowering their
# logits by several nats. Generated text is then mostly word pieces.
BIAS_ACTIVATION = 3.0
SUPPRESS_WEIGHT = 3.5

# --- GGUF constants (see llama.cpp gguf-py/gguf/constants.py) --------------
GGUF_MAGIC = 0x46554747  # b"GGUF" little-endian
GGUF_VERSION = 3
ALIGNMENT = 32
T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32, GGML_F16 = 0, 1
FILE_TYPE_MOSTLY_F16 = 1
TOK_NORMAL, TOK_UNKNOWN, TOK_CONTROL, TOK_BYTE = 1, 2, 3, 6

SPACE = "\u2581"  # SentencePiece's visible space, "▁"

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Frequent English words, most frequent first. Every prefix of "▁word" goes
# into the vocabulary too, because llama.cpp's SPM tokenizer builds tokens by
# merging adjacent pieces and can only reach "▁the" via "▁t" / "▁th".
COMMON_WORDS = (
    "the of and to in is you that it he was for on are as with his they at be "
    "this have from or one had by word but not what all were we when your can "
    "said there use an each which she do how their if will up other about out "
    "many then them these so some her would make like him into time has look "
    "two more write go see number no way could people my than first water been "
    "call who oil its now find long down day did get come made may part hello "
    "world model answer question please thank yes").split()


def build_vocab():
    """Return (tokens, scores, types) for a byte-fallback SPM vocabulary."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [TOK_UNKNOWN, TOK_CONTROL, TOK_CONTROL]
    # Byte tokens make every string encodable (and "\n" -> <0x0A> is the
    # linefeed token llama.cpp looks up for SPM vocabularies).
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TOK_BYTE] * 256

    pieces = [SPACE]
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    pieces += list(letters) + list("0123456789") + list(".,!?'\":;-()")
    pieces += [SPACE + c for c in letters + "0123456789"]
    for word in COMMON_WORDS:
        full = SPACE + word
        pieces += [full[:end] for end in range(3, len(full) + 1)]
    pieces += ["th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ing", "ed", "es"]
    # De-duplicate while keeping first-seen order (dict preserves insertion).
    pieces = list(dict.fromkeys(pieces))
    tokens += pieces
    types += [TOK_NORMAL] * len(pieces)

    # ChatML markers: CONTROL so the server parses them as single special
    # tokens; llama.cpp also recognises "<|im_end|>" as end-of-turn by name.
    tokens += ["<|im_start|>", "<|im_end|>"]
    types += [TOK_CONTROL, TOK_CONTROL]

    # SPM scores are log-probability-like: higher merges first. Rank pieces
    # by insertion order (frequent first); special and byte tokens get 0.
    scores = []
    rank = 0
    for tok_type in types:
        if tok_type == TOK_NORMAL:
            rank += 1
            scores.append(-float(rank))
        else:
            scores.append(0.0)
    return tokens, scores, types


class GGUFWriter:
    """Minimal GGUF v3 writer: key/values, then tensor infos, then data."""

    def __init__(self):
        self.kv = bytearray()
        self.kv_count = 0
        self.tensors = []  # (name, dims, ggml_type, raw bytes)

    @staticmethod
    def _str(text):
        raw = text.encode("utf-8")
        return struct.pack("<Q", len(raw)) + raw

    def _key(self, key, value_type):
        self.kv += self._str(key) + struct.pack("<I", value_type)
        self.kv_count += 1

    def add_u32(self, key, value):
        self._key(key, T_UINT32)
        self.kv += struct.pack("<I", value)

    def add_f32(self, key, value):
        self._key(key, T_FLOAT32)
        self.kv += struct.pack("<f", value)

    def add_bool(self, key, value):
        self._key(key, T_BOOL)
        self.kv += struct.pack("<B", 1 if value else 0)

    def add_str(self, key, value):
        self._key(key, T_STRING)
        self.kv += self._str(value)

    def add_array(self, key, elem_type, values):
        self._key(key, T_ARRAY)
        self.kv += struct.pack("<IQ", elem_type, len(values))
        if elem_type == T_STRING:
            self.kv += b"".join(self._str(v) for v in values)
        elif elem_type == T_FLOAT32:
            self.kv += struct.pack(f"<{len(values)}f", *values)
        elif elem_type == T_INT32:
            self.kv += struct.pack(f"<{len(values)}i", *values)
        else:
            raise ValueError(f"unsupported array type {elem_type}")

    def add_tensor(self, name, dims, ggml_type, data):
        # dims are GGUF order: dims[0] is the contiguous (row) length.
        self.tensors.append((name, dims, ggml_type, data))

    def write(self, path):
        def pad(n):
            return (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT

        header = struct.pack("<IIQQ", GGUF_MAGIC, GGUF_VERSION, len(self.tensors), self.kv_count)
        infos = bytearray()
        offset = 0  # relative to the start of the (aligned) data section
        for name, dims, ggml_type, data in self.tensors:
            infos += self._str(name) + struct.pack("<I", len(dims))
            infos += struct.pack(f"<{len(dims)}Q", *dims)
            infos += struct.pack("<IQ", ggml_type, offset)
            offset += len(data) + pad(len(data))
        with open(path, "wb") as out:
            meta = header + self.kv + infos
            out.write(meta + b"\0" * pad(len(meta)))
            for _, _, _, data in self.tensors:
                out.write(data + b"\0" * pad(len(data)))
        return offset


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="path of the .gguf file to write")
    parser.add_argument("--seed", type=int, default=1234, help="weight seed (default 1234)")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    gauss = rng.gauss

    def f16_matrix(n_cols, n_rows, std):
        # n_cols is ggml's ne[0]: the row length, i.e. the input dimension.
        count = n_cols * n_rows
        return struct.pack(f"<{count}e", *[gauss(0.0, std) for _ in range(count)])

    def f32_ones(n):
        # RMS-norm gains of 1.0: norms stay F32 (llama-quantize keeps 1-D
        # tensors unquantized anyway).
        return struct.pack(f"<{n}f", *([1.0] * n))

    tokens, scores, types = build_vocab()
    n_vocab = len(tokens)

    gguf = GGUFWriter()
    gguf.add_str("general.architecture", "llama")
    gguf.add_str("general.name", f"quantclaw-tiny-llama-seed{args.seed}")
    gguf.add_u32("general.alignment", ALIGNMENT)
    gguf.add_u32("general.file_type", FILE_TYPE_MOSTLY_F16)
    gguf.add_u32("llama.vocab_size", n_vocab)
    gguf.add_u32("llama.context_length", CONTEXT_LENGTH)
    gguf.add_u32("llama.embedding_length", N_EMBD)
    gguf.add_u32("llama.block_count", N_LAYER)
    gguf.add_u32("llama.feed_forward_length", N_FF)
    gguf.add_u32("llama.attention.head_count", N_HEAD)
    gguf.add_u32("llama.attention.head_count_kv", N_HEAD_KV)
    gguf.add_u32("llama.rope.dimension_count", HEAD_DIM)
    gguf.add_f32("llama.rope.freq_base", ROPE_FREQ_BASE)
    gguf.add_f32("llama.attention.layer_norm_rms_epsilon", RMS_EPS)

    gguf.add_str("tokenizer.ggml.model", "llama")
    gguf.add_array("tokenizer.ggml.tokens", T_STRING, tokens)
    gguf.add_array("tokenizer.ggml.scores", T_FLOAT32, scores)
    gguf.add_array("tokenizer.ggml.token_type", T_INT32, types)
    gguf.add_u32("tokenizer.ggml.unknown_token_id", 0)
    gguf.add_u32("tokenizer.ggml.bos_token_id", 1)
    gguf.add_u32("tokenizer.ggml.eos_token_id", 2)
    gguf.add_bool("tokenizer.ggml.add_bos_token", True)
    gguf.add_bool("tokenizer.ggml.add_eos_token", False)
    gguf.add_str("tokenizer.chat_template", CHATML_TEMPLATE)

    n_kv = N_HEAD_KV * HEAD_DIM
    embedding = [gauss(0.0, EMBED_STD) for _ in range(N_EMBD * n_vocab)]
    embedding[::N_EMBD] = [BIAS_ACTIVATION] * n_vocab  # dimension 0 of each row
    gguf.add_tensor("token_embd.weight", [N_EMBD, n_vocab], GGML_F16,
                    struct.pack(f"<{len(embedding)}e", *embedding))
    for layer in range(N_LAYER):
        prefix = f"blk.{layer}."
        attn_std = N_EMBD ** -0.5
        gguf.add_tensor(prefix + "attn_norm.weight", [N_EMBD], GGML_F32, f32_ones(N_EMBD))
        gguf.add_tensor(prefix + "attn_q.weight", [N_EMBD, N_EMBD], GGML_F16,
                        f16_matrix(N_EMBD, N_EMBD, attn_std))
        gguf.add_tensor(prefix + "attn_k.weight", [N_EMBD, n_kv], GGML_F16,
                        f16_matrix(N_EMBD, n_kv, attn_std))
        gguf.add_tensor(prefix + "attn_v.weight", [N_EMBD, n_kv], GGML_F16,
                        f16_matrix(N_EMBD, n_kv, attn_std))
        gguf.add_tensor(prefix + "attn_output.weight", [N_EMBD, N_EMBD], GGML_F16,
                        f16_matrix(N_EMBD, N_EMBD, attn_std))
        gguf.add_tensor(prefix + "ffn_norm.weight", [N_EMBD], GGML_F32, f32_ones(N_EMBD))
        gguf.add_tensor(prefix + "ffn_gate.weight", [N_EMBD, N_FF], GGML_F16,
                        f16_matrix(N_EMBD, N_FF, attn_std))
        gguf.add_tensor(prefix + "ffn_up.weight", [N_EMBD, N_FF], GGML_F16,
                        f16_matrix(N_EMBD, N_FF, attn_std))
        gguf.add_tensor(prefix + "ffn_down.weight", [N_FF, N_EMBD], GGML_F16,
                        f16_matrix(N_FF, N_EMBD, N_FF ** -0.5))
    gguf.add_tensor("output_norm.weight", [N_EMBD], GGML_F32, f32_ones(N_EMBD))
    output = [gauss(0.0, OUTPUT_STD) for _ in range(N_EMBD * n_vocab)]
    for token_id, tok_type in enumerate(types):
        # Keep end-of-generation tokens neutral so generation can still stop.
        if tok_type != TOK_NORMAL and tokens[token_id] not in ("</s>", "<|im_end|>"):
            output[token_id * N_EMBD] = -SUPPRESS_WEIGHT
    gguf.add_tensor("output.weight", [N_EMBD, n_vocab], GGML_F16,
                    struct.pack(f"<{len(output)}e", *output))

    data_bytes = gguf.write(args.out)
    print(f"wrote {args.out}: llama {N_LAYER}x{N_EMBD}, vocab {n_vocab}, "
          f"{len(gguf.tensors)} tensors, {data_bytes} data bytes, seed {args.seed}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
