#!/usr/bin/env bash
# The main job on the bundled example, with embedded defaults and no outside accounts:
# clone this repository into a throwaway bare remote, check it out, and run the
# push-to-main flow there (train -> gate -> build into an OCI layout -> pin the digest
# in environments/dev -> commit and push). Then show the status table and the plan for
# promoting the release to staging. Your checkout is never modified.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
leptonci="$here/.venv/bin/leptonci"
work="$(mktemp -d "${TMPDIR:-/tmp}/leptonci-demo.XXXXXX")"

git clone -q --bare "$here" "$work/remote.git"
git clone -q "$work/remote.git" "$work/repo"
cd "$work/repo"
git config user.name "leptonci demo"
git config user.email "demo@leptonci.invalid"
# Reuse the training cache of your checkout, so a second demo skips training.
export LEPTONCI_CACHE="${LEPTONCI_CACHE:-$here/.leptonci/cache}"
export LEPTONCI_ACTOR="${LEPTONCI_ACTOR:-demo}"

echo "==> demo repository: $work/repo (a clone of your checkout; remote: $work/remote.git)"
echo
echo "==> 1/3 leptonci run push: train digits (or reuse the cache), gate it, build the image"
echo "        into an OCI layout, pin its digest in environments/dev, commit and push;"
echo "        it ends with the status table: what each environment runs now"
"$leptonci" run push
echo
echo "==> 2/3 leptonci promote --to staging --dry-run: the plan for the next step"
"$leptonci" promote --to staging --dry-run
echo
echo "==> 3/3 git log -1 origin/main: the promotion commit and its trailers"
git --no-pager log -1 --format='%h %s%n%n%(trailers)' origin/main
echo "The demo repository is kept at $work/repo. Try, there:"
echo "  $leptonci history dev --from-git"
echo "  $leptonci promote --to staging"
echo "Remove it with: rm -rf $work"
