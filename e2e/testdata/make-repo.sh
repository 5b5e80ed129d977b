#!/bin/sh
# Builds the bare git repository the seed e2e test checks out (from the
# seeddata image, over file://): branch main, a tag v1, an executable and a
# subdirectory. Dates are fixed so the image's content, and so its tag, only
# change when this script does.
set -eu
out=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=e2e GIT_AUTHOR_EMAIL=e2e@example.com GIT_COMMITTER_NAME=e2e GIT_COMMITTER_EMAIL=e2e@example.com
export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'
cd "$work"
git init -q -b main
mkdir -p public
echo '<h1>from git</h1>' > public/index.html
printf '#!/bin/sh\necho build\n' > build.sh
chmod 0755 build.sh
git add -A
git commit -q -m site
git tag v1
rm -rf "$out"
git clone -q --bare "$work" "$out"
git -C "$out" remote remove origin
