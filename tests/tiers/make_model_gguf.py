#!/usr/bin/env python3
"""Write a seeded llama-architecture GGUF test model whose quantization sensitivity depends on content.

Why this exists: the tier tests, the demo and the learning loop need real llama.cpp model servers (an
f16 "reference" tier plus Q8_0 / Q4_0 tiers made with `llama-quantize`), but no model can be downloaded
on the machines that run them. This script fabricates one from a seed: a llama with a SentencePiece-style
byte-fallback vocabulary and a ChatML chat template, so `llama-server` serves /v1/completions and
/v1/chat/completions (tool calls included) with it.

Two properties make it stand in for a production model:

* Content-dependent sensitivity. Real LLMs concentrate quantization error in a few outlier channels
  that specific tokens light up (LLM.int8(), SmoothQuant). Here a seeded subset of the vocabulary --
  drawn mostly from digits, code and JSON punctuation, but chosen by the seed, and known only to this
  file -- carries one large outlier per 32-wide block of its embedding row. llama.cpp's Q4_0 keeps one
  scale per block of 32 weights, so the outlier sets the scale and the rest of the row rounds to about
  zero: the Q4_0 tier loses what these tokens mean. The outliers stay in the residual stream, and the
  RMS-norm gains (kept F32 by llama-quantize) amplify them so that the CPU kernels' Q8_0 quantization of
  activations, again per block of 32, also loses the rest of every block at those positions. Prose
  tokens carry their energy in one "massive" channel instead (a single block), so their positions have
  the same RMS scale but lose almost nothing. A "kind continues" readout (outlier channels raise the
  logits of sensitive tokens, the massive channel those of the others) makes the f16 model predict
  sensitive tokens after sensitive tokens, as a real model predicts digits after digits, so steps that
  read *and* write such tokens suffer. Two previous-token heads in layer 0 let the step after such a
  token inherit part of its sensitivity. The effect is verified by measurement
  (tests/tiers/measure_sensitivity.py), not assumed.
* Economics. `--size small` (6 x 768, 86 MiB at f16) is the size at which q4_0 is clearly cheaper than
  f16 on this 2-core machine once llama.cpp is built for its CPU (QUANTCLAW_LLAMA_NATIVE=1 in
  cmake/llama-tiers.sh): per CPU-second about 2.8x the decode and 1.5x the prefill. At 8 x 1024 the
  ratios were no better and everything took twice as long. `--size tiny` (2 x 256) stays for fast tests;
  at that size q4_0 is no cheaper than f16.

Needs Debian's python3-numpy (writing the small model takes a few seconds).

Usage: python3 make_model_gguf.py OUT.gguf [--size tiny|small] [--seed 1234]
"""

import argparse
import struct
import sys

import numpy as np

# --- Model shapes -------------------------------------------------------------------------------------
# Row lengths (n_embd, n_ff) are multiples of 256 so llama-quantize can use Q4_0/Q8_0 (blocks of 32) and
# the K-quants (blocks of 256) it picks for output.weight (Q6_K in a Q4_0 file).
SIZES = {
    # n_embd, n_ff, n_layer, n_head
    "tiny": (256, 768, 2, 4),
    "small": (768, 2048, 6, 12),
}
CONTEXT_LENGTH = 16384  # the demo episode and the tool schemas render to several thousand tokens
RMS_EPS = 1e-5
ROPE_FREQ_BASE = 10000.0
BLOCK = 32  # ggml's Q4_0 / Q8_0 block length

# --- Sensitivity knobs (see the module docstring) -------------------------------------------------------
# Outlier amplitude in a sensitive token's embedding, in units of the row's ordinary values (std 1).
# Q4_0's step is amplitude/8: at 24 it is 3 std, so nearly every other value in the block rounds to 0.
OUTLIER = 24.0
# After the attention/FFN RMS norms an outlier is this many times an ordinary activation; Q8_0 activation
# quantization (127 levels per block) then resolves ordinary values in its block to a few levels.
ACTIVATION_RATIO = 96.0
# The massive channel of non-sensitive tokens after the norms: a ratio Q8_0 resolves well.
MASSIVE_RATIO = 8.0
# Logit boost (nats) for tokens of the same kind as the current one ("digits follow digits").
KIND_BOOST = 5.0
# Probability that a token of each class becomes sensitive, drawn with the seed.
SENSITIVE_PROBABILITY = {"digit": 0.9, "json": 0.9, "code": 0.6, "byte": 0.15, "word": 0.03}

# Previous-token heads in layer 0 (see previous_token_head): how many, over how many rotary pairs, and
# the per-pair amplitude (8 pairs x 7^2 / sqrt(64) puts the previous position about 7 nats above itself).
PREV_HEADS = 2
PREV_PAIRS = 8
PREV_SCALE = 7.0

# --- Ordinary weight scales -----------------------------------------------------------------------------
# Matrices use std 1/sqrt(fan_in) so each layer contributes O(1) to the residual stream and attention is
# not uniform. The output scale sets the logit spread: about 2 nats of std, peaked enough that top-1 and
# top-k mean something; at 3 the ordinary Q4_0 noise of the 6-layer model alone gave prose steps a
# median KL near 0.5, and the content-dependent part drowned.
LOGIT_STD = 2.0
# Llama has no output bias; to keep the model from emitting raw byte and special tokens, every embedding
# carries BIAS_ACTIVATION in channel 0 and the output rows of unwanted tokens weigh it negatively.
BIAS_ACTIVATION = 3.0
SUPPRESS_NATS = 10.0

# --- GGUF constants (llama.cpp gguf-py/gguf/constants.py) -----------------------------------------------
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

# Frequent English words, most frequent first. Every prefix of "▁word" goes into the vocabulary too,
# because llama.cpp's SPM tokenizer builds tokens by merging adjacent pieces and reaches "▁the" only
# through "▁t" and "▁th".
COMMON_WORDS = (
    "the of and to in is you that it he was for on are as with his they at be "
    "this have from or one had by word but not what all were we when your can "
    "said there use an each which she do how their if will up other about out "
    "many then them these so some her would make like him into time has look "
    "two more write go see number no way could people my than first water been "
    "call who oil its now find long down day did get come made may part hello "
    "world model answer question please thank yes file search read result error "
    "tool call value name type table total sum code test run path line limit query options exact max "
    "arguments items result count index data row key node size parse load save score step token src").split()
CODE_WORDS = (
    "def return import class const let var function if else for while in not and or "
    "true false null None self print int str float bool list dict void struct include "
    "async await try except catch throw new this std auto").split()
JSON_PIECES = ['{', '}', '[', ']', '"', ':', ',', '|', SPACE + '|', '{"', '":', '",', '"}', '":"', '"]', '["', '},', '],',
               '{}', '[]', SPACE + '{', SPACE + '[', SPACE + '"', SPACE + '}', SPACE + ']']
CODE_PIECES = ['(', ')', '()', '(),', ');', ';', '=', '==', '!=', '<', '>', '<=', '>=', '+', '-', '*', '/',
               '//', '#', '->', '=>', '_', '__', '.', '+=', '&&', '||', '%', '&', '|', '\\', '~', '^', '@', '$',
               '`', '```', SPACE + '=', SPACE + '==', SPACE + '+', SPACE + '-', SPACE + '*', SPACE + '(',
               SPACE + '#', SPACE + '//', SPACE + '->', SPACE + '{}', SPACE * 2, SPACE * 3, SPACE * 4, SPACE * 8]


def build_vocab():
    """Return (tokens, scores, types, classes) for a byte-fallback SPM vocabulary.

    classes[i] is the content class the sensitive draw weighs token i by (see SENSITIVE_PROBABILITY);
    special tokens get None and are never sensitive."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [TOK_UNKNOWN, TOK_CONTROL, TOK_CONTROL]
    classes = [None, None, None]
    # Byte tokens make every string encodable ("\n" -> <0x0A> is the linefeed llama.cpp looks up).
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(TOK_BYTE)
        ch = chr(b)
        classes.append("digit" if ch.isdigit() else "json" if ch in '{}[]":,' else "byte")

    pieces = []  # (piece, class)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    pieces += [(SPACE, "word")] + [(c, "word") for c in letters] + [(c, "word") for c in ".!?'-"]
    pieces += [(SPACE + c, "word") for c in letters]
    digits = "0123456789"
    pieces += [(c, "digit") for c in digits] + [(SPACE + c, "digit") for c in digits]
    pieces += [(a + b, "digit") for a in digits for b in digits]
    pieces += [(SPACE + a + b, "digit") for a in digits for b in digits]
    pieces += [(".", "digit"), (",", "json"), ("%", "digit")]
    pieces += [(p, "json") for p in JSON_PIECES]
    pieces += [(p, "code") for p in CODE_PIECES]
    for word in COMMON_WORDS:
        full = SPACE + word
        pieces += [(full[:end], "word") for end in range(3, len(full) + 1)]
        # Without the space too, as in identifiers and JSON keys ("name", "read_file").
        pieces += [(word[:end], "word") for end in range(2, len(word) + 1)]
    for word in CODE_WORDS:
        for full in (SPACE + word, word):
            # The prefixes are there for the merges only and count as word pieces ("pri" is also in
            # "price"); the whole keyword is code.
            pieces += [(full[:end], "word") for end in range(2, len(full))] + [(full, "code")]
    pieces += [(p, "word") for p in ("th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ing", "ed", "es")]
    seen = set()
    for piece, cls in pieces:
        if piece in seen:  # first-seen order and class win
            continue
        seen.add(piece)
        tokens.append(piece)
        types.append(TOK_NORMAL)
        classes.append(cls)

    # ChatML markers: CONTROL, so the server parses them as single special tokens; llama.cpp also
    # recognises "<|im_end|>" as end-of-turn by name.
    tokens += ["<|im_start|>", "<|im_end|>"]
    types += [TOK_CONTROL, TOK_CONTROL]
    classes += [None, None]

    # SPM scores are log-probability-like: higher merges first. Rank pieces by insertion order.
    scores = []
    rank = 0
    for tok_type in types:
        if tok_type == TOK_NORMAL:
            rank += 1
            scores.append(-float(rank))
        else:
            scores.append(0.0)
    return tokens, scores, types, classes


class GGUFWriter:
    """Minimal GGUF v3 writer: key/values, then tensor infos, then data."""

    def __init__(self):
        self.kv = bytearray()
        self.kv_count = 0
        self.tensors = []  # (name, dims, ggml_type, numpy array)

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

    def add_tensor(self, name, array, ggml_type):
        # numpy shape is (rows, row length); GGUF dims list the contiguous row length first.
        dtype = "<f2" if ggml_type == GGML_F16 else "<f4"
        data = np.ascontiguousarray(array, dtype=dtype)
        self.tensors.append((name, list(reversed(data.shape)), ggml_type, data))

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
            offset += data.nbytes + pad(data.nbytes)
        with open(path, "wb") as out:
            meta = header + self.kv + infos
            out.write(meta + b"\0" * pad(len(meta)))
            for _, _, _, data in self.tensors:
                out.write(data.tobytes())
                out.write(b"\0" * pad(data.nbytes))
        return offset


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="path of the .gguf file to write")
    parser.add_argument("--size", choices=sorted(SIZES), default="small", help="model shape (default small)")
    parser.add_argument("--seed", type=int, default=1234, help="weight and sensitive-token seed (default 1234)")
    args = parser.parse_args()

    n_embd, n_ff, n_layer, n_head = SIZES[args.size]
    head_dim = n_embd // n_head
    rng = np.random.default_rng(args.seed)

    tokens, scores, types, classes = build_vocab()
    n_vocab = len(tokens)

    # The sensitive tokens: drawn here from the seed, weighted by class, and never written anywhere else.
    draw = rng.random(n_vocab)
    sensitive = np.array([cls is not None and draw[i] < SENSITIVE_PROBABILITY[cls] for i, cls in enumerate(classes)])

    # One outlier channel per 32-wide block (a seeded offset in each; never channel 0, the bias channel),
    # and one "massive" channel for everything else, in block 1, which carries nothing else: the massive
    # value sets that block's Q4_0 and Q8_0 scales, so any ordinary value beside it would be lost.
    n_blocks = n_embd // BLOCK
    offsets = rng.integers(1, BLOCK, size=n_blocks)
    outlier_ch = np.arange(n_blocks) * BLOCK + offsets
    massive_ch = BLOCK + int((offsets[1] + rng.integers(1, BLOCK)) % BLOCK)
    special_ch = np.zeros(n_embd, dtype=bool)
    special_ch[outlier_ch] = True
    special_ch[massive_ch] = True
    special_ch[0] = True
    dead_ch = np.zeros(n_embd, dtype=bool)  # block 1 but for the marker channels
    dead_ch[BLOCK:2 * BLOCK] = True
    dead_ch &= ~special_ch
    # All outliers of a position share one sign pattern: they say "this is a sensitive token" and carry no
    # identity of their own, so the token's meaning sits in the ordinary values that Q4_0 destroys.
    outlier_sign = rng.choice([-1.0, 1.0], size=n_blocks)
    massive = OUTLIER * np.sqrt(n_blocks)  # the same energy as all outliers: equal RMS for every position
    rms = np.sqrt(1.0 + (OUTLIER ** 2 * n_blocks + BIAS_ACTIVATION ** 2) / n_embd)

    gguf = GGUFWriter()
    gguf.add_str("general.architecture", "llama")
    gguf.add_str("general.name", f"quantclaw-{args.size}-llama-seed{args.seed}")
    gguf.add_u32("general.alignment", ALIGNMENT)
    gguf.add_u32("general.file_type", FILE_TYPE_MOSTLY_F16)
    gguf.add_u32("llama.vocab_size", n_vocab)
    gguf.add_u32("llama.context_length", CONTEXT_LENGTH)
    gguf.add_u32("llama.embedding_length", n_embd)
    gguf.add_u32("llama.block_count", n_layer)
    gguf.add_u32("llama.feed_forward_length", n_ff)
    gguf.add_u32("llama.attention.head_count", n_head)
    gguf.add_u32("llama.attention.head_count_kv", n_head)
    gguf.add_u32("llama.rope.dimension_count", head_dim)
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

    def gauss(rows, cols, std):
        return rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(std)

    # Embeddings: ordinary values std 1; then the content marker (outliers or the massive channel).
    embedding = gauss(n_vocab, n_embd, 1.0)
    embedding[:, special_ch | dead_ch] = 0.0
    embedding[:, 0] = BIAS_ACTIVATION
    embedding[np.ix_(sensitive, outlier_ch)] = OUTLIER * outlier_sign
    embedding[~sensitive, massive_ch] = massive
    gguf.add_tensor("token_embd.weight", embedding, GGML_F16)

    # RMS-norm gains: ordinary channels undo the RMS the markers add (so every position's ordinary
    # activations are O(1)); outlier channels end at ACTIVATION_RATIO, the massive one at MASSIVE_RATIO.
    norm = np.full(n_embd, rms, dtype=np.float32)
    norm[outlier_ch] = ACTIVATION_RATIO * rms / OUTLIER
    norm[massive_ch] = MASSIVE_RATIO * rms / massive
    norm[0] = rms

    def in_proj(n_out, std):
        # A projection reading the normed residual: the marker channels' columns are scaled down so each
        # weighs like one ordinary channel in f16 (they only shift the layer's input by a constant).
        w = gauss(n_out, n_embd, std)
        w[:, outlier_ch] /= ACTIVATION_RATIO
        w[:, massive_ch] /= MASSIVE_RATIO
        return w

    # The markers dominate every position's RMS, so the norms do not rein in the growth of the ordinary
    # part of the residual stream as they would in a trained model: each layer's writes are scaled so
    # that all layers together add what two would (a deeper model otherwise turns chaotic, and the f16
    # and quantized tiers disagree about everything).
    write_scale = min(1.0, np.sqrt(2.0 / n_layer))

    def out_proj(n_in, std):
        # A projection writing the residual leaves the marker channels alone, so the markers a position
        # starts with are the ones it keeps through every layer.
        w = gauss(n_embd, n_in, std * write_scale)
        w[special_ch | dead_ch, :] = 0.0
        return w

    def previous_token_head(w_q, w_k, head):
        # Layer 0's first heads attend to the previous position, as induction circuits' previous-token
        # heads do, so a step also reads what the token before it meant: the step after a sensitive token
        # inherits some of its sensitivity. Their queries and keys read only the bias channel (a constant
        # BIAS_ACTIVATION after the norm), so the score depends on relative position alone: with rotary
        # embeddings q_m . k_n = q^T R((n - m) theta) k, and k = R(theta) q puts the peak at n = m - 1.
        # The first PREV_PAIRS rotary pairs (the fastest) each add PREV_SCALE^2 to the peak's score.
        rows = slice(head * head_dim, (head + 1) * head_dim)
        w_q[rows, :] = 0.0
        w_k[rows, :] = 0.0
        for pair in range(PREV_PAIRS):
            theta = ROPE_FREQ_BASE ** (-2.0 * pair / head_dim)
            i = head * head_dim + 2 * pair
            w_q[i, 0] = PREV_SCALE / BIAS_ACTIVATION
            w_k[i, 0] = PREV_SCALE * np.cos(theta) / BIAS_ACTIVATION
            w_k[i + 1, 0] = PREV_SCALE * np.sin(theta) / BIAS_ACTIVATION

    std_in = n_embd ** -0.5
    for layer in range(n_layer):
        prefix = f"blk.{layer}."
        w_q, w_k = in_proj(n_embd, std_in), in_proj(n_embd, std_in)
        if layer == 0:
            for head in range(PREV_HEADS):
                previous_token_head(w_q, w_k, head)
        gguf.add_tensor(prefix + "attn_norm.weight", norm, GGML_F32)
        gguf.add_tensor(prefix + "attn_q.weight", w_q, GGML_F16)
        gguf.add_tensor(prefix + "attn_k.weight", w_k, GGML_F16)
        gguf.add_tensor(prefix + "attn_v.weight", in_proj(n_embd, std_in), GGML_F16)
        gguf.add_tensor(prefix + "attn_output.weight", out_proj(n_embd, std_in), GGML_F16)
        gguf.add_tensor(prefix + "ffn_norm.weight", norm, GGML_F32)
        gguf.add_tensor(prefix + "ffn_gate.weight", in_proj(n_ff, std_in), GGML_F16)
        gguf.add_tensor(prefix + "ffn_up.weight", in_proj(n_ff, std_in), GGML_F16)
        gguf.add_tensor(prefix + "ffn_down.weight", out_proj(n_ff, n_ff ** -0.5), GGML_F16)

    # Output: the final norm leaves ordinary channels O(1) and every marker at its own amplitude over the
    # RMS; the readout of the markers gives same-kind tokens KIND_BOOST nats.
    out_norm = np.full(n_embd, rms, dtype=np.float32)
    out_norm[special_ch] = 1.0
    gguf.add_tensor("output_norm.weight", out_norm, GGML_F32)
    resid_std = np.sqrt(1.0 + n_layer * write_scale ** 2)  # embedding plus about one unit per layer
    output = gauss(n_vocab, n_embd, LOGIT_STD / (resid_std * np.sqrt(n_embd)))
    output[:, special_ch | dead_ch] = 0.0
    outlier_after_norm = OUTLIER / rms
    output[np.ix_(sensitive, outlier_ch)] = outlier_sign * KIND_BOOST / (n_blocks * outlier_after_norm)
    output[~sensitive, massive_ch] = KIND_BOOST / (massive / rms)
    bias_after_norm = BIAS_ACTIVATION / rms
    types_arr = np.array(types)
    keep = np.array([t == TOK_NORMAL or tok in ("</s>", "<|im_end|>") for t, tok in zip(types, tokens)])
    # Keep end-of-generation tokens neutral so generation can still stop; push bytes and specials down.
    output[~keep, 0] = -SUPPRESS_NATS / bias_after_norm
    del types_arr
    gguf.add_tensor("output.weight", output, GGML_F16)

    data_bytes = gguf.write(args.out)
    print(f"wrote {args.out}: llama {args.size} {n_layer}x{n_embd} (ff {n_ff}, {n_head} heads), vocab {n_vocab}, "
          f"{len(gguf.tensors)} tensors, {data_bytes / 2**20:.1f} MiB, seed {args.seed}", file=sys.stderr)


if __name__ == "__main__":
    main()
