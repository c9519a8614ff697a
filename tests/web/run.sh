#!/usr/bin/env bash
# Runs the web console's end-to-end tests (console.test.mjs) in Debian's
# chromium. Installs the npm packages they need (playwright-core, pinned in
# package-lock.json) when they are missing; needs node and npm on the PATH
# and chromium (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")"
wanted=$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch { '' }")
if [ "$wanted" != "$have" ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test --test-reporter=spec console.test.mjs
