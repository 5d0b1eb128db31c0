#!/usr/bin/env bash
# Installs the Debian packages spojit needs to build and test, if missing.
# Usage: scripts/deps.sh [build|test]
#   build: compilers' libraries (-dev packages) only
#   test:  also what the test suites need (cmocka, node, sqlite3 CLI, valgrind,
#          openssl for the TLS test's certificates)
# Not root: prints the exact apt-get line instead and fails.
set -euo pipefail

want=(pkg-config make gcc
      libmicrohttpd-dev libjansson-dev libjq-dev libonig-dev libfyaml-dev
      libcurl4-openssl-dev libsqlite3-dev libpq-dev libsodium-dev libseccomp-dev)
if [ "${1:-build}" = test ]; then
  want+=(libcmocka-dev nodejs sqlite3 curl valgrind python3 openssl)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# node may come from outside Debian's archive (as on the CI image): accept any node >= 18.
if [ "${1:-build}" = test ] && command -v node >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [ "$p" = nodejs ] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "spojit needs these packages; run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$line
