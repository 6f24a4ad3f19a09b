#!/usr/bin/env bash
# Fetch Neovim 0.12 from Debian sid into a cache folder and print the path of a launcher.
# Nothing on the system changes: a private apt configuration (its own sources, lists and
# cache) downloads the .debs, `dpkg -x` unpacks them, and the launcher starts nvim through
# the unpacked glibc's loader with the unpacked libraries. Reused when already there.
set -euo pipefail

CACHE=${COPILOT_NVIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/copilot-lsp/nvim-sid}
LAUNCHER="$CACHE/bin/nvim"
if [ -x "$LAUNCHER" ] && "$LAUNCHER" --version >/dev/null 2>&1; then
  echo "$LAUNCHER"
  exit 0
fi

PACKAGES="neovim neovim-runtime libluajit-5.1-2 libluajit-5.1-common libtree-sitter0.26 libunibilium4
libutf8proc3 libuv1t64 lua-lpeg lua-luv libc6 libgcc-s1"
APT="$CACHE/apt"
ROOT="$CACHE/root"
rm -rf "$APT" "$ROOT"
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/etc/preferences.d" "$ROOT" "$CACHE/bin"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" \
  > "$APT/sources.list"
: > "$APT/status"
OPTIONS=(
  -o "Dir::Etc::SourceList=$APT/sources.list"
  -o "Dir::Etc::SourceParts=-"
  -o "Dir::Etc::Preferences=$APT/etc/preferences"
  -o "Dir::Etc::PreferencesParts=$APT/etc/preferences.d"
  -o "Dir::State::Lists=$APT/lists"
  -o "Dir::State::Status=$APT/status"
  -o "Dir::Cache=$APT"
  -o "Dir::Cache::Archives=$APT/archives"
  -o "APT::Architecture=amd64"
  -o "Debug::NoLocking=1"
)
echo "fetching Neovim from Debian sid into $CACHE" >&2
apt-get "${OPTIONS[@]}" -qq update >&2
(cd "$APT/archives" && apt-get "${OPTIONS[@]}" -qq download $PACKAGES >&2)
for deb in "$APT"/archives/*.deb; do
  dpkg -x "$deb" "$ROOT"
done
cat > "$LAUNCHER" <<LAUNCH
#!/usr/bin/env bash
# Neovim from Debian sid, through its own loader and libraries (see fetch-nvim.sh).
export VIMRUNTIME="$ROOT/usr/share/nvim/runtime"
exec "$ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
  --library-path "$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu" \
  "$ROOT/usr/bin/nvim" "\$@"
LAUNCH
chmod +x "$LAUNCHER"
"$LAUNCHER" --version | head -1 >&2
echo "$LAUNCHER"
