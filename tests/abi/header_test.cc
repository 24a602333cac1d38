// Compiled as C++11 through C++20 with -pedantic -Werror: C++ hosts include the header directly.
#include "quantclaw/quantclaw.h"

#include <type_traits>

// Hosts memcpy and memset these structs and pass them to C: they must stay trivial and standard-layout.
static_assert(std::is_standard_layout<qc_decision>::value && std::is_trivial<qc_decision>::value,
              "qc_decision must stay a plain C struct");
static_assert(std::is_standard_layout<qc_buffer>::value && std::is_trivial<qc_buffer>::value,
              "qc_buffer must stay a plain C struct");
static_assert(std::is_standard_layout<qc_plugin>::value && std::is_trivial<qc_plugin>::value,
              "qc_plugin must stay a plain C struct");
static_assert(std::is_same<decltype(&qc_plugin_entry), qc_plugin_entry_fn>::value,
              "qc_plugin_entry_fn must match qc_plugin_entry");
static_assert(std::is_same<decltype(qc_plugin::on_step), decltype(&qc_on_step)>::value,
              "the table entry must have the exported function's type");
static_assert(std::is_same<decltype(qc_plugin::choose_precision), decltype(&qc_choose_precision)>::value,
              "the table entry must have the exported function's type");

int header_test_uses_every_type();

int header_test_uses_every_type() {
  qc_decision decision = qc_decision();
  decision.struct_size = QC_DECISION_SIZE_V1;
  qc_buffer buffer = qc_buffer();
  buffer.struct_size = sizeof(buffer);
  qc_bytes bytes = {nullptr, 0};
  qc_plugin table = qc_plugin();
  table.struct_size = sizeof(table);
  const qc_plugin* plugin = &table;
  const bool callable = QC_PLUGIN_HAS(plugin, complete) && plugin->complete != nullptr;
  return static_cast<int>(decision.struct_size + buffer.struct_size + bytes.size) + QC_OK + (callable ? 1 : 0);
}
