#!/usr/bin/env bash
# Make sure a Chromium exists for the end-to-end tests: CHROMIUM_PATH, /usr/bin/chromium,
# or Debian's package installed with apt when we are root.
set -euo pipefail
if [[ -n "${CHROMIUM_PATH:-}" && -x "${CHROMIUM_PATH}" ]]; then exit 0; fi
if command -v chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]]; then exit 0; fi
if [[ "$(id -u)" == "0" ]]; then
  echo "installing Debian's chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  exit 0
fi
echo "Chromium is missing: install Debian's 'chromium' package or set CHROMIUM_PATH" >&2
exit 1
