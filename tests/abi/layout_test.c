/* The ABI's layout, pinned: a host compiled against one version of quantclaw.h must read the structs of
 * every later library of the same major at the same offsets. A change that moves a field or a constant
 * fails this file at compile time, long before a host misreads memory. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "quantclaw/quantclaw.h"

/* Field types, not only offsets: an int32_t swapped for a uint32_t keeps the layout and breaks hosts. */
#define QC_HAS_TYPE(expression, type) _Generic((expression), type: 1, default: 0)

#define QC_ASSERT_FIELD(struct_type, field, offset, type)                                  \
  _Static_assert(offsetof(struct_type, field) == (offset), #struct_type "." #field " moved"); \
  _Static_assert(QC_HAS_TYPE(((struct_type *)0)->field, type), #struct_type "." #field " changed type")

/* The version is written once, in the header; the build reads it from there for the SONAME, the file
 * name, the CMake package and quantclaw.pc, and passes what it read here (tests/abi/CMakeLists.txt). */
#if !defined(QC_BUILD_ABI_MAJOR) || !defined(QC_BUILD_ABI_MINOR)
#error "QC_BUILD_ABI_MAJOR and QC_BUILD_ABI_MINOR come from CMake (the version it read from quantclaw.h)"
#endif
_Static_assert(QC_ABI_VERSION_MAJOR == QC_BUILD_ABI_MAJOR, "CMake read another ABI major than the header's");
_Static_assert(QC_ABI_VERSION_MINOR == QC_BUILD_ABI_MINOR, "CMake read another ABI minor than the header's");
_Static_assert(QC_ABI_VERSION >> 16 == QC_ABI_VERSION_MAJOR && (QC_ABI_VERSION & 0xFFFF) == QC_ABI_VERSION_MINOR,
               "QC_ABI_VERSION packs major << 16 | minor");
/* Not the version's bookkeeping but what this file pins: the layouts below are ABI major 1's, with
 * qc_complete (1.1) in the table. A new major pins its own. */
_Static_assert(QC_ABI_VERSION_MAJOR == 1, "the layouts pinned here are ABI 1's");
_Static_assert(QC_ABI_VERSION_MINOR >= 1, "qc_plugin.complete came with ABI 1.1");

/* Values that never change, whatever the platform. */

_Static_assert(QC_OK == 0, "QC_OK");
_Static_assert(QC_ERR_INVALID_ARGUMENT == 1, "QC_ERR_INVALID_ARGUMENT");
_Static_assert(QC_ERR_PARSE == 2, "QC_ERR_PARSE");
_Static_assert(QC_ERR_INVALID_CONFIG == 3, "QC_ERR_INVALID_CONFIG");
_Static_assert(QC_ERR_UNKNOWN_SESSION == 4, "QC_ERR_UNKNOWN_SESSION");
_Static_assert(QC_ERR_TOO_LARGE == 5, "QC_ERR_TOO_LARGE");
_Static_assert(QC_ERR_BAD_HANDLE == 6, "QC_ERR_BAD_HANDLE");
_Static_assert(QC_ERR_VERSION == 7, "QC_ERR_VERSION");
_Static_assert(QC_ERR_OUT_OF_ORDER == 8, "QC_ERR_OUT_OF_ORDER");
_Static_assert(QC_ERR_INTERNAL == 9, "QC_ERR_INTERNAL");
_Static_assert(QC_ERR_UNAVAILABLE == 10, "QC_ERR_UNAVAILABLE");
_Static_assert(QC_ERR_TIMEOUT == 11, "QC_ERR_TIMEOUT");
_Static_assert(QC_ERR_CANCELLED == 12, "QC_ERR_CANCELLED");
_Static_assert(QC_ERR_UPSTREAM == 13, "QC_ERR_UPSTREAM");

_Static_assert(QC_FORMAT_PROTOBUF == 1, "QC_FORMAT_PROTOBUF");
_Static_assert(QC_FORMAT_JSON == 2, "QC_FORMAT_JSON");

_Static_assert(QC_DECISION_FORCED == 1u, "QC_DECISION_FORCED");
_Static_assert(QC_DECISION_ESCALATED == 2u, "QC_DECISION_ESCALATED");
_Static_assert(QC_DECISION_BUDGET_HELD == 4u, "QC_DECISION_BUDGET_HELD");
_Static_assert(QC_DECISION_DEFAULTED == 8u, "QC_DECISION_DEFAULTED");
_Static_assert(QC_DECISION_PHASE_SPLIT == 16u, "QC_DECISION_PHASE_SPLIT");
_Static_assert(QC_DECISION_CACHE_HELD == 32u, "QC_DECISION_CACHE_HELD");
_Static_assert(QC_DECISION_SHADOW_SAMPLED == 64u, "QC_DECISION_SHADOW_SAMPLED");

_Static_assert(sizeof(((qc_decision *)0)->tier_name) == 64, "qc_decision.tier_name capacity");
_Static_assert(sizeof(((qc_decision *)0)->step_kind) == 32, "qc_decision.step_kind capacity");
_Static_assert(sizeof(((qc_decision *)0)->reason) == 192, "qc_decision.reason capacity");

QC_ASSERT_FIELD(qc_bytes, data, 0, const uint8_t *);
QC_ASSERT_FIELD(qc_buffer, struct_size, 0, uint32_t);
QC_ASSERT_FIELD(qc_buffer, reserved0, 4, uint32_t);
QC_ASSERT_FIELD(qc_decision, struct_size, 0, uint32_t);
QC_ASSERT_FIELD(qc_decision, tier_index, 4, uint32_t);
QC_ASSERT_FIELD(qc_decision, flags, 8, uint32_t);
QC_ASSERT_FIELD(qc_decision, prefill_tier_index, 12, uint32_t);
QC_ASSERT_FIELD(qc_decision, step_index, 16, uint64_t);
QC_ASSERT_FIELD(qc_decision, score, 24, double);
QC_ASSERT_FIELD(qc_decision, threshold, 32, double);
QC_ASSERT_FIELD(qc_decision, tier_name, 40, char *);
QC_ASSERT_FIELD(qc_decision, step_kind, 104, char *);
QC_ASSERT_FIELD(qc_decision, reason, 136, char *);
QC_ASSERT_FIELD(qc_plugin, struct_size, 0, uint32_t);
QC_ASSERT_FIELD(qc_plugin, abi_version, 4, uint32_t);

/* Pointer-sized fields: the values below are those of the LP64 targets quantclaw ships for. */
#if defined(__x86_64__) || defined(__aarch64__)
#define QC_LAYOUT_PINNED 1
QC_ASSERT_FIELD(qc_bytes, size, 8, size_t);
_Static_assert(sizeof(qc_bytes) == 16, "sizeof(qc_bytes)");

QC_ASSERT_FIELD(qc_buffer, data, 8, uint8_t *);
QC_ASSERT_FIELD(qc_buffer, size, 16, size_t);
_Static_assert(sizeof(qc_buffer) == 24, "sizeof(qc_buffer)");

_Static_assert(sizeof(qc_decision) == 328, "sizeof(qc_decision)");
_Static_assert(QC_DECISION_SIZE_V1 == 328, "QC_DECISION_SIZE_V1 is the v1 struct's size, forever");
_Static_assert(QC_BUFFER_SIZE_V1 == 24, "QC_BUFFER_SIZE_V1 is the v1 struct's size, forever");
_Static_assert(QC_BUFFER_SIZE_V1 == sizeof(qc_buffer), "qc_buffer has not grown in ABI 1.0");

QC_ASSERT_FIELD(qc_plugin, abi_version_fn, 8, uint32_t (*)(void));
QC_ASSERT_FIELD(qc_plugin, router_new, 16, int32_t (*)(const char *, size_t, qc_router **));
QC_ASSERT_FIELD(qc_plugin, router_free, 24, int32_t (*)(qc_router *));
QC_ASSERT_FIELD(qc_plugin, router_reload, 32, int32_t (*)(qc_router *, const char *, size_t));
QC_ASSERT_FIELD(qc_plugin, on_step, 40, int32_t (*)(qc_router *, const qc_bytes *, uint32_t));
QC_ASSERT_FIELD(qc_plugin, choose_precision, 48,
                int32_t (*)(qc_router *, const qc_bytes *, uint32_t, qc_decision *));
QC_ASSERT_FIELD(qc_plugin, report_outcome, 56, int32_t (*)(qc_router *, const qc_bytes *, uint32_t));
QC_ASSERT_FIELD(qc_plugin, session_end, 64, int32_t (*)(qc_router *, const char *, size_t));
QC_ASSERT_FIELD(qc_plugin, metrics, 72, int32_t (*)(qc_router *, qc_buffer *));
QC_ASSERT_FIELD(qc_plugin, buffer_free, 80, void (*)(qc_buffer *));
QC_ASSERT_FIELD(qc_plugin, last_error, 88, const char *(*)(void));
/* ABI 1.1 appended complete; every earlier offset above stays. */
QC_ASSERT_FIELD(qc_plugin, complete, 96,
                int32_t (*)(qc_router *, const qc_bytes *, uint32_t, qc_chunk_fn, void *, qc_buffer *));
_Static_assert(sizeof(qc_plugin) == 104, "sizeof(qc_plugin)");
#else
#define QC_LAYOUT_PINNED 0
#endif

/* QC_PLUGIN_HAS against tables of known sizes: a field is held exactly when the table reaches its end. */
static int check_plugin_has(void) {
  qc_plugin table;
  memset(&table, 0, sizeof(table));
  /* A table of ABI 1.0: it ends after last_error, before complete. */
  table.struct_size = (uint32_t)(offsetof(qc_plugin, last_error) + sizeof(table.last_error));
  if (!QC_PLUGIN_HAS(&table, struct_size) || !QC_PLUGIN_HAS(&table, abi_version) ||
      !QC_PLUGIN_HAS(&table, router_new) || !QC_PLUGIN_HAS(&table, last_error) || QC_PLUGIN_HAS(&table, complete)) {
    fprintf(stderr, "QC_PLUGIN_HAS misreads a table of ABI 1.0\n");
    return 1;
  }
  /* One byte short of complete's end still does not hold it. */
  table.struct_size = (uint32_t)(offsetof(qc_plugin, complete) + sizeof(table.complete) - 1);
  if (QC_PLUGIN_HAS(&table, complete)) {
    fprintf(stderr, "QC_PLUGIN_HAS reads a field the table does not reach\n");
    return 1;
  }
  table.struct_size = (uint32_t)sizeof(qc_plugin);
  if (!QC_PLUGIN_HAS(&table, complete)) {
    fprintf(stderr, "QC_PLUGIN_HAS misses the last field of a full table\n");
    return 1;
  }
  /* Only the size: a held field may still be NULL (not implemented). */
  table.struct_size = 0;
  if (QC_PLUGIN_HAS(&table, abi_version_fn)) {
    fprintf(stderr, "QC_PLUGIN_HAS holds a field of an empty table\n");
    return 1;
  }
  return 0;
}

int main(void) {
  /* The one value a static assertion cannot compare: hosts dlsym this exact string. */
  if (strcmp(QC_PLUGIN_ENTRY_SYMBOL, "qc_plugin_entry") != 0) {
    fprintf(stderr, "QC_PLUGIN_ENTRY_SYMBOL is \"%s\", not \"qc_plugin_entry\"\n", QC_PLUGIN_ENTRY_SYMBOL);
    return 1;
  }
  if (check_plugin_has() != 0) return 1;
  printf(QC_LAYOUT_PINNED
             ? "OK: qc_bytes, qc_buffer, qc_decision, qc_plugin layouts, constants and QC_PLUGIN_HAS pinned\n"
             : "OK: constants and QC_PLUGIN_HAS pinned; pointer-sized layouts not pinned on this target\n");
  return 0;
}
