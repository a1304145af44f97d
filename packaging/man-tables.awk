# man-tables.awk turns the key tables of docs/configuration.md into the
# definition lists a man page uses (.TP paragraphs): a four-column table
# does not fit an 80-column terminal.
#
#   | `log.level` | string | `info` | `debug`, ... |   becomes
#
#   `log.level` (string, default `info`)
#   : `debug`, ...
/^\| *Key *\|/ || /^\|---/ { next }
/^\|/ {
	n = split($0, c, / *\| */)
	# c[1] is empty (before the first bar), c[n] too (after the last).
	if (n != 6) { print; next }
	head = c[2] " (" c[3]
	if (c[4] != "") head = head ", default " c[4]
	print head ")"
	print ": " c[5]
	print ""
	next
}
{ print }
