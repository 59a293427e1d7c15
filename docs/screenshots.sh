#!/usr/bin/env bash
# Screenshots of the dashboard's main pages for the README, into docs/images/: the browser test
# (tests/Middleware.Tests/Dashboard/DashboardBrowserTests.cs) starts two silo processes under load, drives the system's
# Chromium headless through Playwright, and with MW_SCREENSHOTS set saves each page it checks as a PNG.
# Needs /usr/bin/chromium (sudo apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  echo "/usr/bin/chromium is missing: install it with sudo apt-get install -y chromium" >&2
  exit 1
fi
out="$(pwd)/docs/images"
mkdir -p "$out"
dotnet build tests/Middleware.Tests -c Debug -nologo -v q
MW_SCREENSHOTS="$out" dotnet test tests/Middleware.Tests -c Debug --no-build -nologo \
  --filter "FullyQualifiedName~DashboardBrowserTests" --logger "console;verbosity=normal"
ls -l "$out"/dashboard-*.png
