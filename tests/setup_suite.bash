# Runs once before the suite: check the build, then make the fixtures
# every file shares (synthetic images in class folders, archived) in
# $BATS_SUITE_TMPDIR/fix with tests/unit/mkfixture.c.
setup_suite() {
	: "${MIM_BIN:?run the tests through tests/run or make check}"
	[ -x "$MIM_BIN/patchify" ] || { echo "no $MIM_BIN/patchify: run make" >&2; return 1; }
	local fix=$BATS_SUITE_TMPDIR/fix
	mkdir -p "$fix"
	if [ -x "$MIM_TESTBIN/mkfixture" ]; then
		"$MIM_TESTBIN/mkfixture" "$fix/tree" || return 1
		# entries in sorted order, as a directory is read
		(cd "$fix/tree" && tar --sort=name -cf "$fix/tree.tar" . &&
		 tar --sort=name -czf "$fix/tree.tar.gz" . &&
		 tar --sort=name -cJf "$fix/tree.tar.xz" . &&
		 find . -type f | LC_ALL=C sort | bsdtar --format zip -cf "$fix/tree.zip" -T - ) || return 1
	fi
}
