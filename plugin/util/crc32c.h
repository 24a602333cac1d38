// CRC-32C (Castagnoli), the checksum of trace records: it catches torn and corrupted records, where a
// plain length prefix would read garbage as a record.
#ifndef QUANTCLAW_PLUGIN_UTIL_CRC32C_H_
#define QUANTCLAW_PLUGIN_UTIL_CRC32C_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace quantclaw {

namespace internal {
inline constexpr std::array<uint32_t, 256> kCrc32cTable = [] {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    table[i] = crc;
  }
  return table;
}();
}  // namespace internal

// CRC-32C of `bytes`; `crc` continues an earlier value.
inline uint32_t Crc32c(std::string_view bytes, uint32_t crc = 0) {
  crc = ~crc;
  for (unsigned char byte : bytes) crc = internal::kCrc32cTable[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

}  // namespace quantclaw

#endif  // QUANTCLAW_PLUGIN_UTIL_CRC32C_H_
