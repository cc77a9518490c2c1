#!/usr/bin/env bash
# Make sure a Chromium is there for the browser test (tests/test_book.py, .ci/browser_check.py).
# Found already ($SEQCOURSE_CHROMIUM, chromium, chromium-browser, google-chrome): nothing to do.
# Otherwise install Debian's/Ubuntu's chromium with apt-get (as root, or through sudo without a
# password). When neither works it says so and leaves it to the test, which then fails with the
# same advice: the browser test is never skipped.
set -uo pipefail

if [ -n "${SEQCOURSE_CHROMIUM:-}" ] && [ -x "$SEQCOURSE_CHROMIUM" ]; then exit 0; fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: no Chromium and no apt-get; install Chromium with your system's" \
       "package manager or set SEQCOURSE_CHROMIUM (the browser test fails until then)" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "install_chromium: no Chromium, and installing one needs root:" \
       "sudo apt-get install chromium (the browser test fails until then)" >&2
  exit 0
fi
echo "install_chromium: installing chromium with apt-get (once)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null \
  && "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null \
  || echo "install_chromium: apt-get install chromium failed (the browser test will say so)" >&2
exit 0
