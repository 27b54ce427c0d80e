#!/usr/bin/env bats
# Manual pages: one per tool, lint-clean, and a SYNOPSIS equal to usage().

load helpers

# the SYNOPSIS of page $1 as one line of words
synopsis() {
	MANWIDTH=1000 mandoc -Tascii -O width=1000 "$1" | col -b |
		awk '/^SYNOPSIS/ { on = 1; next } /^[A-Z]/ { on = 0 } on' | xargs
}

tools() {
	for f in "$TOP"/tools/*.c; do basename "$f" .c; done
}

@test "man: every tool has a page in man/man1" {
	for t in $(tools); do
		[ -f "$TOP/man/man1/$t.1" ] || fail "no man/man1/$t.1"
	done
}

@test "man: every page is clean under mandoc -Tlint" {
	run mandoc -Tlint -W warning "$TOP"/man/man1/*.1 "$TOP"/man/man5/*.5 "$TOP"/man/man7/*.7
	assert_success
	assert_output ""
}

@test "man: every page's SYNOPSIS equals the tool's usage line" {
	for t in $(tools); do
		want=$(synopsis "$TOP/man/man1/$t.1")
		got=$("$t" --help | sed 's/^usage: //' | xargs)
		[ "$want" = "$got" ] || fail "$t: man: '$want' usage: '$got'"
	done
}

@test "man: the section 5 and 7 pages exist" {
	[ -f "$TOP/man/man5/tensor-stream.5" ]
	[ -f "$TOP/man/man7/mimtools.7" ]
}
