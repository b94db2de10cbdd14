#!/usr/bin/env bash
# apply.sh — rebuild third_party/compute: github.com/gomlx/compute v0.1.14 as the Go module proxy
# serves it, these patches applied in order (0001, 0002, …), then gofmt over the whole tree (the
# upstream tree has a few files gofmt would change; whitespace only).
#
#   third_party/patches/apply.sh           rewrite third_party/compute
#   third_party/patches/apply.sh --check   verify that third_party/compute is exactly that
#
# Needs the go command (GOTOOLCHAIN=go1.27.3) and patch(1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
version=v0.1.14
src=$(cd "$here" && GOFLAGS=-mod=mod go mod download -json "github.com/gomlx/compute@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
if [ -z "$src" ] || [ ! -d "$src" ]; then
  echo "apply.sh: could not download github.com/gomlx/compute@$version" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src" "$tmp/compute"
chmod -R u+w "$tmp/compute"
rm -rf "$tmp/compute/.github" "$tmp/compute/.agents" # CI and editor files of the upstream repository
for p in "$here"/0*.patch; do
  patch --quiet -p1 -d "$tmp/compute" < "$p"
done
gofmt -w "$tmp/compute"
if [ "${1:-}" = "--check" ]; then
  diff -r "$tmp/compute" "$root/compute"
  echo "third_party/compute is github.com/gomlx/compute@$version with the patches applied"
else
  rm -rf "$root/compute"
  cp -r "$tmp/compute" "$root/compute"
  echo "rebuilt third_party/compute from github.com/gomlx/compute@$version and $(ls "$here"/0*.patch | wc -l) patches"
fi
