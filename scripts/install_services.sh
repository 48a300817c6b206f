#!/usr/bin/env bash
# Install the server binaries the test suite needs, when missing (root + apt only; otherwise a no-op).
#
#   - PostgreSQL: the distribution's `postgresql` package when no pg_ctl is found.
#   - redis-server: the distribution's package (also pulls the libraries valkey-server links against).
#   - valkey-server 8: from the distribution's <codename>-backports suite, WITHOUT changing the system's apt
#     configuration: a private sources list, lists and cache under .services/apt, `apt-get download` and
#     `dpkg -x` into .services/valkey/. The mirror is derived from the machine's own apt sources (the URI that
#     serves the main suite), so no host name lives in this repository. If backports is unreachable we keep
#     going: the fixtures fall back to redis-server and the test run says which binary it used.
#
# Idempotent: every step checks first. A failed valkey download is not retried for a day
# (.services/valkey.unavailable; set VTK_RETRY_VALKEY=1 to force), so offline re-runs stay fast.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SERVICES=$ROOT/.services

log() { echo "[install_services] $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "not root: not installing server binaries (install postgresql and valkey-server or redis-server yourself)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  log "no apt-get on this machine: not installing server binaries"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive

APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq || log "apt-get update failed; trying with the lists we have"
    APT_UPDATED=1
  fi
}
apt_install() {
  apt_update_once
  log "apt-get install $*"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---- PostgreSQL ------------------------------------------------------------------------------------------------
if ! command -v pg_ctl >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  apt_install postgresql || log "could not install postgresql"
fi

# ---- redis-server ----------------------------------------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  apt_install redis-server || log "could not install redis-server"
fi

# ---- valkey-server from backports, project-local -----------------------------------------------------------------
VALKEY_DIR=$SERVICES/valkey
VALKEY_BIN=$VALKEY_DIR/usr/bin/valkey-server
UNAVAILABLE=$SERVICES/valkey.unavailable

# Print "<uri> <signed-by or ->" for the first apt source serving the main suite (<codename>), one-line or deb822.
main_suite_source() {
  python3 - "$1" <<'PY'
import glob, sys
codename = sys.argv[1]
def one_line(path):
    for raw in open(path, encoding="utf-8", errors="replace"):
        parts = raw.split("#", 1)[0].split()
        if not parts or parts[0] != "deb":
            continue
        opts, rest = "", parts[1:]
        if rest and rest[0].startswith("["):
            while rest and not rest[0].endswith("]"):
                opts += " " + rest.pop(0)
            opts += " " + rest.pop(0) if rest else ""
        if len(rest) >= 2 and rest[1] == codename:
            signed = next((o.split("=", 1)[1].rstrip("]") for o in opts.replace("[", " ").split()
                           if o.startswith("signed-by=")), "-")
            return rest[0], signed
    return None
def deb822(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    for stanza in text.split("\n\n"):
        fields, key = {}, None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" in fields.get("types", "").split() and codename in fields.get("suites", "").split():
            if fields.get("enabled", "yes").lower() == "no":
                continue
            uris = fields.get("uris", "").split()
            if uris:
                return uris[0], fields.get("signed-by", "-").split()[0] if fields.get("signed-by") else "-"
    return None
candidates = [("l", "/etc/apt/sources.list")]
candidates += [("l", p) for p in sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]
candidates += [("s", p) for p in sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))]
for kind, path in candidates:
    try:
        found = one_line(path) if kind == "l" else deb822(path)
    except OSError:
        continue
    if found:
        print(*found)
        sys.exit(0)
sys.exit(1)
PY
}

install_valkey_from_backports() {
  local codename uri signed aptdir opts deb deps missing
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || { log "no VERSION_CODENAME in /etc/os-release"; return 1; }
  read -r uri signed < <(main_suite_source "$codename") || { log "no apt source for suite $codename"; return 1; }
  aptdir=$SERVICES/apt
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/debs"
  if [ "$signed" != "-" ]; then
    echo "deb [signed-by=$signed] $uri $codename-backports main" >"$aptdir/sources.list"
  else
    echo "deb $uri $codename-backports main" >"$aptdir/sources.list"
  fi
  opts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache"
    -o Acquire::Retries=1 -o APT::Sandbox::User=root -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20)
  log "fetching valkey-server from $codename-backports (private apt lists under .services/apt)"
  timeout 180 apt-get "${opts[@]}" update -qq || return 1
  rm -f "$aptdir"/debs/*.deb
  (cd "$aptdir/debs" && timeout 180 apt-get "${opts[@]}" download -qq valkey-server valkey-tools >/dev/null) || return 1
  rm -rf "$VALKEY_DIR.tmp"
  mkdir -p "$VALKEY_DIR.tmp"
  for deb in "$aptdir"/debs/*.deb; do dpkg -x "$deb" "$VALKEY_DIR.tmp"; done
  # The binary links against libraries from the main suite (jemalloc, lzf, ...): install any that are missing.
  deps=$(for deb in "$aptdir"/debs/*.deb; do dpkg-deb -f "$deb" Depends; done | tr ',' '\n' |
    sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/ //g' | grep -v -e '^valkey' -e '^$' | sort -u)
  missing=()
  for dep in $deps; do dpkg -s "$dep" >/dev/null 2>&1 || missing+=("$dep"); done
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}" || log "could not install ${missing[*]}"; fi
  rm -rf "$VALKEY_DIR"
  mv "$VALKEY_DIR.tmp" "$VALKEY_DIR"
  "$VALKEY_BIN" --version >/dev/null
}

if command -v valkey-server >/dev/null 2>&1 || { [ -x "$VALKEY_BIN" ] && "$VALKEY_BIN" --version >/dev/null 2>&1; }; then
  :
elif [ -f "$UNAVAILABLE" ] && [ -z "${VTK_RETRY_VALKEY:-}" ] && [ -n "$(find "$UNAVAILABLE" -mmin -1440)" ]; then
  log "valkey-server unavailable on a recent try ($(cat "$UNAVAILABLE")); using redis-server (VTK_RETRY_VALKEY=1 retries)"
else
  mkdir -p "$SERVICES"
  if install_valkey_from_backports; then
    rm -f "$UNAVAILABLE"
    log "valkey-server ready: $("$VALKEY_BIN" --version)"
  else
    rm -rf "$VALKEY_DIR.tmp"
    date -u +%FT%TZ >"$UNAVAILABLE"
    log "valkey-server from backports unavailable; the tests fall back to redis-server"
  fi
fi
