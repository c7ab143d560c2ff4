#!/usr/bin/env bash
# Installs the Debian packages in scripts/debian-packages.txt that are missing (Linux, as root or with sudo).
# Elsewhere (macOS, no apt) it says what it skipped and goes on: those packages serve tests and tools only.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t pkgs < <(grep -v '^\s*#' debian-packages.txt | awk 'NF {print $1}')
command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || { echo "setup-system: no apt here; skipped ${pkgs[*]}"; exit 0; }
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup-system: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
