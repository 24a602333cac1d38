/*
 * quantclaw_c_host: replays an agent episode through libquantclaw, loaded at run time.
 *
 *   quantclaw_c_host LIBRARY.so CONFIG.json EPISODE.jsonl
 *
 * The host knows the library only through quantclaw.h: it dlopens the .so, asks qc_plugin_entry for the
 * function table and calls through it, so it has no link-time dependency on libquantclaw and keeps
 * working with any library of the same ABI major.
 *
 * Where the plugin is found (the convention every quantclaw host follows): a path given explicitly wins;
 * given as "-", the host uses $QUANTCLAW_PLUGIN, and without it falls back to the plugins directory,
 * ./plugins/libquantclaw.so.1 (the file named by the SONAME, so the ABI major is in the name), so that deployments can swap the library without touching the command line.
 *
 * Each episode line is a quantclaw.v1.Step in JSON, or {"outcome": {...}} carrying a quantclaw.v1.Outcome.
 * The host prints one line per step ("step INDEX KIND TIER SCORE REASON") and exits 1 if any call failed.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantclaw/quantclaw.h"

#define EXIT_CALL_FAILED 1
#define EXIT_USAGE 2

static const char kPluginEnvironmentVariable[] = "QUANTCLAW_PLUGIN";
static const char kPluginsDirectoryPath[] = "./plugins/libquantclaw.so.1";

/* A table from an older library of the same major may end before a field this host knows: such a field
 * counts as NULL, exactly like one the library leaves unimplemented. */
#define PLUGIN_IMPLEMENTS(plugin, field) (QC_PLUGIN_HAS(plugin, field) && (plugin)->field != NULL)

typedef struct text_span {
  const char *begin;
  const char *end;
} text_span;

static const char *last_error_of(const qc_plugin *plugin) {
  if (!PLUGIN_IMPLEMENTS(plugin, last_error)) return "(the library does not implement last_error)";
  return plugin->last_error();
}

/* Reads a whole file into a NUL-terminated buffer the caller frees; NULL on failure. */
static char *read_file(const char *path, size_t *out_size) {
  FILE *file = fopen(path, "rb");
  char *content = NULL;
  size_t size = 0;
  size_t capacity = 0;
  if (file == NULL) return NULL;
  for (;;) {
    size_t got;
    if (capacity - size < 4096) {
      size_t grown = capacity == 0 ? 65536 : capacity * 2;
      char *bigger = (char *)realloc(content, grown + 1);
      if (bigger == NULL) {
        free(content);
        fclose(file);
        return NULL;
      }
      content = bigger;
      capacity = grown;
    }
    got = fread(content + size, 1, capacity - size, file);
    size += got;
    if (got == 0) break;
  }
  if (ferror(file)) {
    free(content);
    fclose(file);
    return NULL;
  }
  fclose(file);
  content[size] = '\0';
  *out_size = size;
  return content;
}

/* Reads one line of any length (episode steps carry whole tool results) without its newline.
 * Returns 0 at end of file. The buffer is reused across calls. */
static int read_line(FILE *file, char **line, size_t *capacity) {
  size_t length = 0;
  if (*line == NULL) {
    *capacity = 4096;
    *line = (char *)malloc(*capacity);
    if (*line == NULL) return 0;
  }
  for (;;) {
    if (fgets(*line + length, (int)(*capacity - length), file) == NULL) {
      if (length == 0) return 0;
      break;
    }
    length += strlen(*line + length);
    if (length > 0 && (*line)[length - 1] == '\n') break;
    if (*capacity - length < 2) {
      char *bigger = (char *)realloc(*line, *capacity * 2);
      if (bigger == NULL) return 0;
      *line = bigger;
      *capacity *= 2;
    }
  }
  while (length > 0 && ((*line)[length - 1] == '\n' || (*line)[length - 1] == '\r')) (*line)[--length] = '\0';
  return 1;
}

/* A tiny JSON scanner: just enough to find a top-level member and the extent of its value, so the host
 * needs no JSON library. The library itself parses (and validates) everything it is given. */

static const char *skip_space(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') ++p;
  return p;
}

/* p is at an opening quote; returns just past the closing one, or NULL when unterminated. Escaped
 * quotes and braces inside strings must not end the string or count as structure. */
static const char *skip_string(const char *p) {
  for (++p; *p != '\0'; ++p) {
    if (*p == '\\') {
      if (p[1] == '\0') return NULL;
      ++p;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

/* Returns just past the value at p: a string, a bracket-matched object or array, or a scalar. */
static const char *skip_value(const char *p) {
  if (*p == '"') return skip_string(p);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (*p != '\0') {
      if (*p == '"') {
        p = skip_string(p);
        if (p == NULL) return NULL;
        continue;
      }
      if (*p == '{' || *p == '[') {
        ++depth;
      } else if (*p == '}' || *p == ']') {
        if (--depth == 0) return p + 1;
      }
      ++p;
    }
    return NULL;
  }
  while (*p != '\0' && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\r' &&
         *p != '\n') {
    ++p;
  }
  return p;
}

/* Finds the top-level member `key` of the JSON object in `json` (keys compared as written, unescaped
 * keys only); on success `value` spans its value text. Nested members of the same name are skipped. */
static int find_member(const char *json, const char *key, text_span *value) {
  size_t key_length = strlen(key);
  const char *p = skip_space(json);
  if (*p != '{') return 0;
  p = skip_space(p + 1);
  while (*p == '"') {
    const char *key_begin = p + 1;
    const char *key_end = skip_string(p);
    const char *value_end;
    if (key_end == NULL) return 0;
    p = skip_space(key_end);
    if (*p != ':') return 0;
    p = skip_space(p + 1);
    value_end = skip_value(p);
    if (value_end == NULL || value_end == p) return 0;
    if ((size_t)(key_end - 1 - key_begin) == key_length && memcmp(key_begin, key, key_length) == 0) {
      value->begin = p;
      value->end = value_end;
      return 1;
    }
    p = skip_space(value_end);
    if (*p != ',') return 0;
    p = skip_space(p + 1);
  }
  return 0;
}

static qc_bytes bytes_of(const char *text, size_t size) {
  qc_bytes bytes;
  bytes.data = (const uint8_t *)text;
  bytes.size = size;
  return bytes;
}

/* A DecisionRequest for the step's session. The session id is copied as the step wrote it, escapes
 * included, so it stays valid JSON without unescaping. Returns 0 when out of memory. */
static int build_decision_request(const char *step_line, char **request, size_t *request_size) {
  static const char kPrefix[] = "{\"session_id\":";
  text_span session_id;
  size_t id_length;
  if (!find_member(step_line, "session_id", &session_id) && !find_member(step_line, "sessionId", &session_id)) {
    /* No id to copy: the library rejects the empty one and says why. */
    session_id.begin = "\"\"";
    session_id.end = session_id.begin + 2;
  }
  id_length = (size_t)(session_id.end - session_id.begin);
  *request = (char *)malloc(sizeof(kPrefix) + id_length + 1);
  if (*request == NULL) return 0;
  memcpy(*request, kPrefix, sizeof(kPrefix) - 1);
  memcpy(*request + sizeof(kPrefix) - 1, session_id.begin, id_length);
  (*request)[sizeof(kPrefix) - 1 + id_length] = '}';
  (*request)[sizeof(kPrefix) + id_length] = '\0';
  *request_size = sizeof(kPrefix) + id_length;
  return 1;
}

static const char *resolve_library_path(const char *argument) {
  const char *from_environment;
  if (strcmp(argument, "-") != 0) return argument;
  from_environment = getenv(kPluginEnvironmentVariable);
  if (from_environment != NULL && from_environment[0] != '\0') return from_environment;
  return kPluginsDirectoryPath;
}

/* The table, or NULL after saying why. qc_last_error is looked up directly only for the message of a
 * refused entry call, since there is no table to call it through then. */
static const qc_plugin *load_plugin_table(void *library, const char *library_path) {
  void *entry_symbol = dlsym(library, QC_PLUGIN_ENTRY_SYMBOL);
  qc_plugin_entry_fn entry;
  const qc_plugin *plugin;
  if (entry_symbol == NULL) {
    fprintf(stderr, "quantclaw_c_host: %s has no symbol %s: %s\n", library_path, QC_PLUGIN_ENTRY_SYMBOL,
            dlerror());
    return NULL;
  }
  /* ISO C has no conversion from an object pointer to a function pointer; POSIX guarantees the
   * representations match, so copy the bits. */
  memcpy(&entry, &entry_symbol, sizeof(entry));
  plugin = entry(QC_ABI_VERSION_MAJOR);
  if (plugin == NULL) {
    void *last_error_symbol = dlsym(library, "qc_last_error");
    const char *(*last_error)(void) = NULL;
    if (last_error_symbol != NULL) memcpy(&last_error, &last_error_symbol, sizeof(last_error));
    fprintf(stderr, "quantclaw_c_host: %s refused ABI major %d: %s\n", library_path, QC_ABI_VERSION_MAJOR,
            last_error != NULL ? last_error() : "(no message)");
    return NULL;
  }
  if (!QC_PLUGIN_HAS(plugin, abi_version) || (plugin->abi_version >> 16) != QC_ABI_VERSION_MAJOR) {
    fprintf(stderr, "quantclaw_c_host: %s returned a table of another ABI major\n", library_path);
    return NULL;
  }
  if (!PLUGIN_IMPLEMENTS(plugin, router_new) || !PLUGIN_IMPLEMENTS(plugin, router_free) ||
      !PLUGIN_IMPLEMENTS(plugin, on_step) || !PLUGIN_IMPLEMENTS(plugin, choose_precision)) {
    fprintf(stderr,
            "quantclaw_c_host: %s lacks a function this host needs (router_new, router_free, on_step, "
            "choose_precision)\n",
            library_path);
    return NULL;
  }
  return plugin;
}

static void print_decision(const qc_decision *decision) {
  char score[32];
  if (decision->score < 0) {
    strcpy(score, "-");
  } else {
    sprintf(score, "%.2f", decision->score);
  }
  printf("step %-3" PRIu64 " %-12s %-10s %-5s %s\n", decision->step_index, decision->step_kind,
         decision->tier_name, score, decision->reason);
}

/* Replays the episode; returns how many calls failed, or -1 when the episode cannot be read. */
static int replay_episode(const qc_plugin *plugin, qc_router *router, const char *episode_path) {
  FILE *episode = fopen(episode_path, "r");
  char *line = NULL;
  size_t line_capacity = 0;
  int line_number = 0;
  int failed_calls = 0;
  int outcomes_skipped = 0;
  if (episode == NULL) {
    fprintf(stderr, "quantclaw_c_host: cannot read %s\n", episode_path);
    return -1;
  }
  while (read_line(episode, &line, &line_capacity)) {
    text_span outcome;
    qc_bytes bytes;
    char *request = NULL;
    size_t request_size = 0;
    qc_decision decision;
    int32_t status;
    ++line_number;
    if (*skip_space(line) == '\0') continue;

    if (find_member(line, "outcome", &outcome) && *outcome.begin == '{') {
      if (!PLUGIN_IMPLEMENTS(plugin, report_outcome)) {
        ++outcomes_skipped;
        continue;
      }
      bytes = bytes_of(outcome.begin, (size_t)(outcome.end - outcome.begin));
      status = plugin->report_outcome(router, &bytes, QC_FORMAT_JSON);
      if (status != QC_OK) {
        fprintf(stderr, "%s:%d: report_outcome failed (status %d): %s\n", episode_path, line_number, (int)status,
                last_error_of(plugin));
        ++failed_calls;
      }
      continue;
    }

    bytes = bytes_of(line, strlen(line));
    status = plugin->on_step(router, &bytes, QC_FORMAT_JSON);
    if (status != QC_OK) {
      fprintf(stderr, "%s:%d: on_step failed (status %d): %s\n", episode_path, line_number, (int)status,
              last_error_of(plugin));
      ++failed_calls;
      continue;
    }
    if (!build_decision_request(line, &request, &request_size)) {
      fprintf(stderr, "%s:%d: out of memory\n", episode_path, line_number);
      ++failed_calls;
      continue;
    }
    memset(&decision, 0, sizeof(decision));
    decision.struct_size = (uint32_t)sizeof(decision);
    bytes = bytes_of(request, request_size);
    status = plugin->choose_precision(router, &bytes, QC_FORMAT_JSON, &decision);
    free(request);
    if (status != QC_OK) {
      fprintf(stderr, "%s:%d: choose_precision failed (status %d): %s\n", episode_path, line_number, (int)status,
              last_error_of(plugin));
      ++failed_calls;
      continue;
    }
    print_decision(&decision);
  }
  if (outcomes_skipped > 0) {
    fprintf(stderr, "quantclaw_c_host: skipped %d outcomes: the library does not implement report_outcome\n",
            outcomes_skipped);
  }
  free(line);
  fclose(episode);
  return failed_calls;
}

int main(int argc, char **argv) {
  const char *library_path;
  void *library;
  const qc_plugin *plugin;
  char *config;
  size_t config_size = 0;
  qc_router *router = NULL;
  int32_t status;
  int failed_calls;
  int exit_code = 0;

  if (argc != 4) {
    fprintf(stderr,
            "usage: %s LIBRARY.so CONFIG.json EPISODE.jsonl\n"
            "  LIBRARY.so \"-\" means $%s, else %s\n",
            argc > 0 ? argv[0] : "quantclaw_c_host", kPluginEnvironmentVariable, kPluginsDirectoryPath);
    return EXIT_USAGE;
  }
  library_path = resolve_library_path(argv[1]);

  /* RTLD_LOCAL: the library's symbols stay out of the global namespace, so a second plugin (or the host's
   * own protobuf) never binds to them. RTLD_NOW: a missing dependency fails here, not mid-episode. */
  library = dlopen(library_path, RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    fprintf(stderr, "quantclaw_c_host: cannot load %s: %s\n", library_path, dlerror());
    return EXIT_USAGE;
  }
  plugin = load_plugin_table(library, library_path);
  if (plugin == NULL) {
    dlclose(library);
    return EXIT_USAGE;
  }

  config = read_file(argv[2], &config_size);
  if (config == NULL) {
    fprintf(stderr, "quantclaw_c_host: cannot read %s\n", argv[2]);
    dlclose(library);
    return EXIT_USAGE;
  }
  status = plugin->router_new(config, config_size, &router);
  free(config);
  if (status != QC_OK) {
    fprintf(stderr, "quantclaw_c_host: router_new failed (status %d):\n%s\n", (int)status, last_error_of(plugin));
    dlclose(library);
    return EXIT_CALL_FAILED;
  }

  failed_calls = replay_episode(plugin, router, argv[3]);
  if (failed_calls < 0) exit_code = EXIT_USAGE;
  if (failed_calls > 0) exit_code = EXIT_CALL_FAILED;

  status = plugin->router_free(router);
  if (status != QC_OK) {
    fprintf(stderr, "quantclaw_c_host: router_free failed (status %d): %s\n", (int)status, last_error_of(plugin));
    exit_code = EXIT_CALL_FAILED;
  }
  /* Only after router_free: no pointer into the library (the table, last_error text) outlives this. */
  if (dlclose(library) != 0) {
    fprintf(stderr, "quantclaw_c_host: dlclose failed: %s\n", dlerror());
    exit_code = EXIT_CALL_FAILED;
  }
  return exit_code;
}
