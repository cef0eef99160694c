#!/bin/sh
# Installs hutch in one command, from this checkout.
#
#   sudo ./install.sh      for every user: the system packages hutch uses, the
#                          binary in /usr/local/bin, man pages and completions
#                          where man, bash, zsh and fish find them (built as
#                          the user who ran sudo)
#   ./install.sh           for you alone, under ~/.local (no packages)
#
# Options:
#   --prefix DIR     install under DIR (bin/, share/man/, share/...-completion)
#   --binary FILE    install FILE instead of building with cargo
#   --no-packages    do not install system packages (root only does anyway)
set -eu
cd "$(dirname "$0")"

prefix=
binary=
packages=yes
while [ $# -gt 0 ]; do
  case $1 in
  --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
  --prefix=*) prefix=${1#*=}; shift ;;
  --binary) binary=${2:?--binary needs a file}; shift 2 ;;
  --binary=*) binary=${1#*=}; shift ;;
  --no-packages) packages=no; shift ;;
  -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
prefix=${prefix:-${PREFIX:-}}

root=no
[ "$(id -u)" = 0 ] && root=yes
default_prefix=no
if [ -z "$prefix" ]; then
  default_prefix=yes
  if [ $root = yes ]; then prefix=/usr/local; else prefix=$HOME/.local; fi
fi

if [ $root = yes ] && [ $packages = yes ]; then
  if command -v apt-get >/dev/null; then
    echo "installing system packages (uidmap passt slirp4netns fuse-overlayfs)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      uidmap passt slirp4netns fuse-overlayfs fuse3 >/dev/null
  else
    echo "install.sh: no apt-get; install newuidmap/newgidmap (uidmap), pasta (passt) and slirp4netns yourself" >&2
  fi
fi

if [ -z "$binary" ]; then
  command -v cargo >/dev/null || {
    echo "install.sh: cargo is missing: install Rust 1.80 or newer (https://rustup.rs), or pass --binary FILE" >&2
    exit 1
  }
  if [ $root = yes ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    # Under sudo, build as the person who ran it: their toolchain (rustup
    # keeps it in their home, which root's HOME does not reach) and a
    # target/ they still own.
    home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    runuser -u "$SUDO_USER" -- env HOME="$home" PATH="$PATH" cargo build --release --locked
  else
    cargo build --release --locked
  fi
  binary=target/release/hutch
fi

bindir=$prefix/bin
mandir=$prefix/share/man
bashdir=$prefix/share/bash-completion/completions
zshdir=$prefix/share/zsh/site-functions
fishdir=$prefix/share/fish/vendor_completions.d
# fish reads /usr/local/share only when XDG_DATA_DIRS says so; its own
# directory for system-wide completions is /etc/fish/completions.
if [ $root = yes ] && [ $default_prefix = yes ]; then
  fishdir=/etc/fish/completions
fi

mkdir -p "$bindir" "$mandir/man1" "$mandir/man5" "$bashdir" "$zshdir" "$fishdir"
# Replaced by rename, so a running hutch keeps its binary.
cp "$binary" "$bindir/.hutch.new"
chmod 0755 "$bindir/.hutch.new"
mv -f "$bindir/.hutch.new" "$bindir/hutch"
for page in man/*.1; do install -m 0644 "$page" "$mandir/man1/"; done
for page in man/*.5; do [ -e "$page" ] && install -m 0644 "$page" "$mandir/man5/"; done
"$bindir/hutch" completion bash >"$bashdir/hutch"
"$bindir/hutch" completion zsh >"$zshdir/_hutch"
"$bindir/hutch" completion fish >"$fishdir/hutch.fish"

echo "installed hutch in $bindir, man pages in $mandir, completions for bash, zsh and fish"
case ":$PATH:" in
*":$bindir:"*) ;;
*) echo "note: $bindir is not in your PATH; add it (man finds the pages through it too)" ;;
esac
if [ $root = no ] && [ $default_prefix = yes ]; then
  echo "note: for zsh, add 'fpath=($zshdir \$fpath)' before compinit in ~/.zshrc"
fi
