#!/usr/bin/env bash
# A private protobuf runtime for libquantclaw.so: Debian's own protobuf source, at exactly the version of
# the installed libprotobuf-dev, built as a position-independent static archive.
#
#   cmake/protobuf-pic.sh build     fetch the source with apt, apply Debian's patches, build libprotobuf.a
#                                   (cached; the first time about 2.5 minutes on 2 idle cores, 5 on busy
#                                   ones)
#   cmake/protobuf-pic.sh archive   print where the archive of the installed version lies (built or not);
#                                   the top-level CMake reads this
#
# Why: linked against the shared libprotobuf.so.32, every copy of libquantclaw.so registers its
# generated descriptors in that one library's global DescriptorPool, so a second copy loaded from another
# path (an upgrade side by side, two plugins each shipping one) aborts the host on the second
# registration. With its own protobuf inside (hidden, --exclude-libs), each copy has its own pool.
# Debian's libprotobuf.a cannot serve: it is built as PIE, with local-exec TLS relocations
# (R_X86_64_TPOFF32, the arena's thread cache) that ld refuses in a shared object.
#
# The generated code is compiled against the installed headers, so the archive must be built from the
# same source: the version comes from dpkg, and the build stops if the source's headers differ from the
# installed ones by one byte. Nothing lands in the repository or in the machine's apt configuration: the
# deb-src list lives in a temporary folder, the archive in the cache folder ($QUANTCLAW_CACHE, else
# ${XDG_CACHE_HOME:-~/.cache}/quantclaw), keyed by the Debian version.
set -euo pipefail

cache="${QUANTCLAW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/quantclaw}"

log() { echo "protobuf-pic: $*" >&2; }

installed_version() {
  dpkg-query -W -f='${Version}' libprotobuf-dev 2>/dev/null || true
}

archive_path() {
  local version
  version="$(installed_version)"
  [ -n "$version" ] || { log "libprotobuf-dev is not installed (cmake/quantclaw-dev.sh setup installs it)"; exit 1; }
  echo "$cache/protobuf-pic-$version/lib/libprotobuf.a"
}

build() {
  local archive version prefix work
  archive="$(archive_path)"
  if [ -f "$archive" ]; then
    return 0
  fi
  version="$(installed_version)"
  prefix="$(dirname "$(dirname "$archive")")"
  work="$prefix.tmp"
  rm -rf "$work"
  mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
  # Bookworm's deb-src (with its updates and security suites, where a newer libprotobuf-dev may come
  # from), for this run only: its own sources file, lists and package cache.
  local mirror="${QUANTCLAW_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  printf 'Types: deb-src\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: %s\n\n' \
    "$mirror" "$keyring" >"$work/apt/src.sources"
  printf 'Types: deb-src\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: %s\n' \
    "${QUANTCLAW_DEBIAN_SECURITY_MIRROR:-${mirror}-security}" "$keyring" >>"$work/apt/src.sources"
  local apt=(apt-get -q -o Dir::Etc::sourcelist="$work/apt/src.sources" -o Dir::Etc::sourceparts=-
             -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache"
             -o APT::Get::List-Cleanup=0)
  log "apt-get source protobuf=$version"
  "${apt[@]}" update >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; exit 1; }
  (cd "$work" && "${apt[@]}" source --download-only "protobuf=$version") >>"$work/apt.log" 2>&1 || {
    tail -20 "$work/apt.log" >&2
    log "the archive no longer serves protobuf $version; upgrade libprotobuf-dev" \
      "(apt-get install --only-upgrade libprotobuf-dev) and run again"
    exit 1
  }
  local upstream="${version%%-*}"
  upstream="${upstream#*:}"
  tar -xzf "$work"/protobuf_"$upstream".orig.tar.gz -C "$work"
  local src="$work/protobuf-$upstream"
  [ -d "$src" ] || { log "protobuf_$upstream.orig.tar.gz has no protobuf-$upstream/"; exit 1; }
  # Debian's patches in Debian's order, as dpkg-source would (3.0 (quilt): debian/patches/series).
  local debian_tar
  debian_tar="$(ls "$work"/protobuf_*.debian.tar.*)"
  tar -xf "$debian_tar" -C "$src"
  if [ -f "$src/debian/patches/series" ]; then
    local patch
    while read -r patch _; do
      case "$patch" in ''|'#'*) continue ;; esac
      patch -d "$src" -p1 --quiet --forward --no-backup-if-mismatch <"$src/debian/patches/$patch" \
        >>"$work/patch.log" 2>&1 || { tail -20 "$work/patch.log" >&2; log "debian/patches/$patch does not apply"; exit 1; }
    done <"$src/debian/patches/series"
  fi
  # The installed headers are what the generated code and the library are compiled against: the runtime
  # must be built from exactly those.
  local header checked=0
  while read -r header; do
    case "$header" in /usr/include/google/protobuf/*) ;; *) continue ;; esac
    [ -f "$header" ] || continue
    cmp -s "$header" "$src/src/${header#/usr/include/}" || {
      log "$header differs from protobuf $version's source (src/${header#/usr/include/}): not building a mismatched runtime"
      exit 1
    }
    checked=$((checked + 1))
  done < <(dpkg -L libprotobuf-dev)
  [ "$checked" -gt 0 ] || { log "dpkg -L libprotobuf-dev lists no headers under /usr/include/google/protobuf"; exit 1; }
  log "$checked installed headers match the source; building libprotobuf.a (position-independent, hidden)"
  # Only the full runtime (reflection and JSON are used), no protoc, no zlib (gzip streams are unused).
  # -fPIC with hidden visibility: the objects go into a shared object and none of their symbols leaves it.
  cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_CXX_VISIBILITY_PRESET=hidden \
    -DCMAKE_VISIBILITY_INLINES_HIDDEN=ON -Dprotobuf_BUILD_SHARED_LIBS=OFF -Dprotobuf_BUILD_TESTS=OFF \
    -Dprotobuf_BUILD_PROTOC_BINARIES=OFF -Dprotobuf_BUILD_LIBPROTOC=OFF -Dprotobuf_WITH_ZLIB=OFF \
    -Dprotobuf_INSTALL=OFF >"$work/configure.log" 2>&1 || { tail -30 "$work/configure.log" >&2; exit 1; }
  cmake --build "$work/build" --parallel "$(nproc)" --target libprotobuf >"$work/build.log" 2>&1 ||
    { tail -30 "$work/build.log" >&2; exit 1; }
  mkdir -p "$work/out/lib"
  cp "$work/build/libprotobuf.a" "$work/out/lib/"
  echo "$version" >"$work/out/VERSION"
  rm -rf "$prefix"
  mv "$work/out" "$prefix"
  rm -rf "$work"
  log "built $archive"
}

case "${1:-}" in
  build) build ;;
  archive) archive_path ;;
  *)
    echo "usage: $0 build|archive" >&2
    exit 2
    ;;
esac
