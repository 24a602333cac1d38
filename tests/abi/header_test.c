/* Compiled as C89, C99 and C11 with -pedantic -Werror: the header must not need anything newer than
 * the oldest C a host may be written in. C89 style on purpose: block comments, declarations first. */
#include "quantclaw/quantclaw.h"

int header_test_uses_every_type(void);

int header_test_uses_every_type(void) {
  qc_bytes bytes;
  qc_buffer buffer;
  qc_decision decision;
  qc_plugin_entry_fn entry = qc_plugin_entry;
  const qc_plugin *plugin = 0;
  qc_router *router = 0;
  qc_plugin table;
  bytes.data = 0;
  bytes.size = 0;
  buffer.struct_size = (uint32_t)sizeof(buffer);
  decision.struct_size = QC_DECISION_SIZE_V1;
  decision.flags = QC_DECISION_FORCED | QC_DECISION_ESCALATED | QC_DECISION_BUDGET_HELD |
                   QC_DECISION_DEFAULTED | QC_DECISION_PHASE_SPLIT | QC_DECISION_CACHE_HELD |
                   QC_DECISION_SHADOW_SAMPLED;
  table.struct_size = (uint32_t)sizeof(table);
  (void)entry;
  (void)plugin;
  (void)router;
  return (int)(bytes.size + buffer.struct_size + decision.flags) + QC_OK + QC_ERR_INTERNAL +
         QC_FORMAT_PROTOBUF + QC_FORMAT_JSON + (QC_ABI_VERSION > 0) + QC_PLUGIN_HAS(&table, complete) +
         QC_PLUGIN_HAS(&table, abi_version);
}
