#!/usr/bin/env bash
# Install the system parts the tests use: Debian's Chromium for the status-page browser tests,
# a small CJK font so its screenshots show Chinese text instead of empty boxes, and Debian's
# systemd package for systemd-analyze (the unit tests run `verify` and `security --offline`,
# which work without systemd as PID 1; installing the package does not start it), and the Nu
# HTML checker (npm's vnu-jar, run with Java) for the page-validity test.
# PostgreSQL runs on these machines already; on CI we make sure it is up.
set -u
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_apt+=(fonts-wqy-microhei)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need_apt[*]} (apt-get)"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null \
      || echo "warning: could not install ${need_apt[*]}; their tests will skip locally (fail on CI)"
  else
    echo "note: ${need_apt[*]} missing and cannot apt-get here; their tests will skip locally"
  fi
fi
# The Nu HTML checker (vnu.jar, from npm's vnu-jar; needs Java) for the page-validity test.
VNU_DIR="$(cd "$(dirname "$0")/.." && pwd)/.venv/vnu"
if [ ! -e "$VNU_DIR/node_modules/vnu-jar/build/dist/vnu.jar" ] && command -v npm >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  echo "installing vnu-jar (npm) into $VNU_DIR"
  mkdir -p "$VNU_DIR"
  npm install --silent --no-audit --no-fund --prefix "$VNU_DIR" vnu-jar@26.9.27 >/dev/null 2>&1 \
    || echo "warning: could not install vnu-jar; the HTML checker test will skip locally (fail on CI)"
fi
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start || true; done
  fi
fi
exit 0
