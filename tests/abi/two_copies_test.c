/* A host that loads two copies of the plugin from two paths at once: a plugin upgraded side by side
 * with the old one, or two plugins that each ship a copy. Each copy registers protobuf's generated
 * descriptors for the same .proto files; were they to share one libprotobuf (and so one global pool),
 * the second registration would abort the host ("File already exists in database"). Each copy links
 * its own private protobuf, so both load, and both route a step.
 *   two_copies_test LIBRARY.so SCRATCH_DIR
 * copies LIBRARY.so to SCRATCH_DIR/first/ and SCRATCH_DIR/second/. Prints "OK: ..." on success. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "quantclaw/quantclaw.h"

static int CopyFile(const char *from, const char *to) {
  char chunk[65536];
  size_t got;
  int ok = 1;
  FILE *in = fopen(from, "rb");
  FILE *out = in != NULL ? fopen(to, "wb") : NULL;
  if (in == NULL || out == NULL) {
    fprintf(stderr, "copy %s -> %s: %s\n", from, to, strerror(errno));
    if (in != NULL) fclose(in);
    return 0;
  }
  while ((got = fread(chunk, 1, sizeof(chunk), in)) > 0) {
    if (fwrite(chunk, 1, got, out) != got) ok = 0;
  }
  if (ferror(in)) ok = 0;
  fclose(in);
  if (fclose(out) != 0) ok = 0;
  if (!ok) fprintf(stderr, "copy %s -> %s failed\n", from, to);
  return ok;
}

typedef struct {
  void *library;
  const qc_plugin *plugin;
  qc_router *router;
} Copy;

static int Load(const char *path, Copy *copy) {
  const char *config = "{\"tiers\":[{\"name\":\"a\",\"format\":\"bf16\",\"base_url\":\"http://h/v1\",\"model\":\"m\"}]}";
  qc_plugin_entry_fn entry;
  copy->library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (copy->library == NULL) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    return 0;
  }
  entry = (qc_plugin_entry_fn)dlsym(copy->library, QC_PLUGIN_ENTRY_SYMBOL);
  copy->plugin = entry != NULL ? entry(QC_ABI_VERSION_MAJOR) : NULL;
  copy->router = NULL;
  if (copy->plugin == NULL || copy->plugin->router_new(config, strlen(config), &copy->router) != QC_OK) {
    fprintf(stderr, "%s: router_new failed\n", path);
    return 0;
  }
  return 1;
}

/* JSON steps and requests go through protobuf reflection: each copy's descriptors are in use. */
static int Route(const char *path, Copy *copy) {
  const char *step = "{\"session_id\":\"s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  const char *request = "{\"session_id\":\"s\"}";
  qc_bytes bytes;
  qc_decision decision;
  bytes.data = (const uint8_t *)step;
  bytes.size = strlen(step);
  if (copy->plugin->on_step(copy->router, &bytes, QC_FORMAT_JSON) != QC_OK) {
    fprintf(stderr, "%s: on_step: %s\n", path, copy->plugin->last_error());
    return 0;
  }
  memset(&decision, 0, sizeof(decision));
  decision.struct_size = sizeof(decision);
  bytes.data = (const uint8_t *)request;
  bytes.size = strlen(request);
  if (copy->plugin->choose_precision(copy->router, &bytes, QC_FORMAT_JSON, &decision) != QC_OK) {
    fprintf(stderr, "%s: choose_precision: %s\n", path, copy->plugin->last_error());
    return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  char directories[2][4096];
  char paths[2][8192 + 32];
  Copy copies[2];
  int i;
  if (argc != 3) {
    fprintf(stderr, "usage: %s LIBRARY.so SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  if (strlen(argv[2]) > 4000) {
    fprintf(stderr, "SCRATCH_DIR is too long\n");
    return 2;
  }
  for (i = 0; i < 2; ++i) {
    snprintf(directories[i], sizeof(directories[i]), "%s/%s", argv[2], i == 0 ? "first" : "second");
    snprintf(paths[i], sizeof(paths[i]), "%s/libquantclaw.so.1", directories[i]);
    if (mkdir(argv[2], 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "mkdir %s: %s\n", argv[2], strerror(errno));
      return 1;
    }
    if (mkdir(directories[i], 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "mkdir %s: %s\n", directories[i], strerror(errno));
      return 1;
    }
    if (!CopyFile(argv[1], paths[i])) return 1;
  }
  /* Both loaded before either routes: the two live side by side, as in a host mid-upgrade. */
  for (i = 0; i < 2; ++i) {
    if (!Load(paths[i], &copies[i])) return 1;
  }
  if (copies[0].library == copies[1].library) {
    fprintf(stderr, "the two paths gave one library: the test proves nothing\n");
    return 1;
  }
  for (i = 0; i < 2; ++i) {
    if (!Route(paths[i], &copies[i])) return 1;
  }
  for (i = 0; i < 2; ++i) {
    copies[i].plugin->router_free(copies[i].router);
    dlclose(copies[i].library);
  }
  printf("OK: two copies loaded side by side, each routed a step\n");
  return 0;
}
