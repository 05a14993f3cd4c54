#!/usr/bin/env bash
# Debian's headless Chromium and its WebDriver, for the web console's browser tests.
# Idempotent and quiet once installed; needs root (or sudo) and apt-get.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_="sudo"
echo "installing chromium and chromium-driver (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$sudo_ apt-get update -qq >/dev/null
$sudo_ apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
