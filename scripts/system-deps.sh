#!/usr/bin/env sh
# The Debian packages the end-to-end tests drive for real: nginx (the auth_request integration)
# and chromium (the console's browser tests through playwright-core). Installed through apt-get
# when missing and this user may (root, as on the CI machine); otherwise a clear message says
# what to install. Called by `npm test` and `.ci/run`.
set -eu
need=""
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need="$need chromium"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "portcullis: installing Debian packages the end-to-end tests need:$need" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  exit 0
fi
echo "portcullis: the end-to-end tests need these Debian packages:$need" >&2
echo "  install them with: sudo apt-get install --no-install-recommends$need" >&2
echo "  (or point PORTCULLIS_NGINX / PORTCULLIS_CHROMIUM at your own binaries)" >&2
[ -n "${PORTCULLIS_NGINX:-}" ] && [ -n "${PORTCULLIS_CHROMIUM:-}" ] && exit 0
exit 1
