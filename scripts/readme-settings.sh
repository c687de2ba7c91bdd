#!/bin/sh
# Regenerate README.md's settings table from the settings table in
# common/options.c (through `faultline settings --markdown`): the lines
# between the "settings-table" markers are replaced.  `make
# readme-settings` runs it; the test options/readme_table_is_the_table
# fails while README and the table disagree.
set -eu
cd "$(dirname "$0")/.."
bin=${1:-build/bin/faultline}
table=$(mktemp)
out=$(mktemp)
trap 'rm -f "$table" "$out"' EXIT
"$bin" settings --markdown >"$table"
grep -q '^<!-- settings-table: begin' README.md || {
	echo "readme-settings: README.md has no '<!-- settings-table: begin' marker" >&2
	exit 1
}
awk -v table="$table" '
	/^<!-- settings-table: begin/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
	/^<!-- settings-table: end/ { skip = 0 }
	!skip { print }
' README.md >"$out"
if cmp -s "$out" README.md; then
	echo "readme-settings: README.md already matches the table"
else
	cat "$out" >README.md
	echo "readme-settings: README.md's settings table regenerated"
fi
