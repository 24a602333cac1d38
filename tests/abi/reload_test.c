/* A host that unloads the plugin and loads it again, as plugin hosts do on reload, three times over.
 * Built against the shared libprotobuf (the fallback without the private archive), the library's
 * generated descriptors register into libprotobuf's global pool; were the library really unmapped by
 * dlclose, the next dlopen would register them again and protobuf would abort the host ("File already
 * exists in database"). It is linked -z nodelete, so dlclose keeps it mapped and each dlopen finds the
 * same library, whichever protobuf it carries. Prints "OK: ..." on success. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "quantclaw/quantclaw.h"

int main(int argc, char **argv) {
  const char *config = "{\"tiers\":[{\"name\":\"a\",\"format\":\"bf16\",\"base_url\":\"http://h/v1\",\"model\":\"m\"}]}";
  const char *step = "{\"session_id\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  const char *request = "{\"session_id\":\"s\"}";
  int round;
  if (argc != 2) {
    fprintf(stderr, "usage: %s LIBRARY.so\n", argv[0]);
    return 2;
  }
  for (round = 0; round < 3; ++round) {
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    const qc_plugin *plugin;
    qc_router *router = NULL;
    qc_bytes bytes;
    qc_decision decision;
    if (library == NULL) {
      fprintf(stderr, "round %d: dlopen: %s\n", round, dlerror());
      return 1;
    }
    plugin = ((qc_plugin_entry_fn)dlsym(library, QC_PLUGIN_ENTRY_SYMBOL))(QC_ABI_VERSION_MAJOR);
    if (plugin == NULL || plugin->router_new(config, strlen(config), &router) != QC_OK) {
      fprintf(stderr, "round %d: router_new failed\n", round);
      return 1;
    }
    /* JSON steps and requests go through protobuf reflection: the descriptors are in use. */
    bytes.data = (const uint8_t *)step;
    bytes.size = strlen(step);
    memset(&decision, 0, sizeof(decision));
    decision.struct_size = sizeof(decision);
    if (plugin->on_step(router, &bytes, QC_FORMAT_JSON) != QC_OK) {
      fprintf(stderr, "round %d: on_step: %s\n", round, plugin->last_error());
      return 1;
    }
    bytes.data = (const uint8_t *)request;
    bytes.size = strlen(request);
    if (plugin->choose_precision(router, &bytes, QC_FORMAT_JSON, &decision) != QC_OK) {
      fprintf(stderr, "round %d: choose_precision: %s\n", round, plugin->last_error());
      return 1;
    }
    plugin->router_free(router);
    if (dlclose(library) != 0) {
      fprintf(stderr, "round %d: dlclose: %s\n", round, dlerror());
      return 1;
    }
  }
  printf("OK: loaded, used and unloaded %d times\n", round);
  return 0;
}
