/* Links libquantclaw at build time (unlike the dlopen hosts) and checks the library it runs against. */
#include <stdio.h>
#include <string.h>

#include <quantclaw/quantclaw.h>

int main(void) {
  static const char config[] =
      "{\"tiers\":[{\"name\":\"bf16\",\"format\":\"bf16\",\"base_url\":\"http://127.0.0.1:8001/v1\",\"model\":\"m\"}]}";
  qc_router *router = NULL;
  if (qc_abi_version() >> 16 != QC_ABI_VERSION_MAJOR) {
    fprintf(stderr, "ABI major mismatch\n");
    return 1;
  }
  if (qc_router_new(config, strlen(config), &router) != QC_OK) {
    fprintf(stderr, "qc_router_new: %s\n", qc_last_error());
    return 1;
  }
  qc_router_free(router);
  printf("consumer OK: ABI %u.%u\n", qc_abi_version() >> 16, qc_abi_version() & 0xFFFFu);
  return 0;
}
