#!/usr/bin/env bash
# Renders an olap HTML report in headless Chromium (Debian's `chromium`) and
# takes a screenshot. Fails when the page does not load, logs a JavaScript
# error, renders no query section, or the screenshot is blank.
#   scripts/screenshot_report.sh demo-report/index.html demo-report.png [width] [height]
set -euo pipefail
page=$(realpath "$1")
shot=$2
size="${3:-1100},${4:-2400}"
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "screenshot: no chromium on PATH (apt-get install chromium)" >&2
  exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$profile" --enable-logging=stderr --v=0)
dom=$("$chromium" "${flags[@]}" --dump-dom "file://$page" 2>"$profile/console.log")
if grep -E "CONSOLE.*(Uncaught|Error)" "$profile/console.log"; then
  echo "screenshot: JavaScript errors in $page" >&2
  exit 1
fi
sections=$(grep -o '<section class="query"' <<<"$dom" | wc -l)
svgs=$(grep -o '<svg' <<<"$dom" | wc -l)
if [ "$sections" -eq 0 ] || [ "$svgs" -eq 0 ]; then
  echo "screenshot: $page rendered $sections query sections and $svgs charts" >&2
  exit 1
fi
"$chromium" "${flags[@]}" --window-size="$size" --screenshot="$shot" "file://$page" 2>/dev/null
bytes=$(stat -c %s "$shot")
if [ "$bytes" -lt 20000 ]; then
  echo "screenshot: $shot is $bytes bytes: a blank page?" >&2
  exit 1
fi
echo "screenshot: $page rendered $sections query sections and $svgs charts; $shot ($bytes bytes)"
