#!/bin/sh
# methods.sh RPCHELP - write, on stdout, a help2man include section
# [RPC METHODS] with every method's usage line and description, as the
# daemon's `help` answers them (RPCHELP is build/tools/rpchelp).
set -eu
rpchelp=$1

# roff-escape: backslashes, and a leading . or ' that roff would take as
# a request.
esc() {
	sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

printf '[RPC METHODS]\n'
printf 'The methods of this build of dexp2pd, as \\fBhelp\\fR lists them;\n'
printf '\\fBdexp2p\\-cli help\\fR \\fImethod\\fR prints one of them.\n'
for name in $("$rpchelp" -names); do
	text=$("$rpchelp" "$name")
	printf '.TP\n.B '
	printf '%s\n' "$text" | head -n 1 | esc
	# The description keeps its line breaks (parameter tables).
	printf '.nf\n'
	printf '%s\n' "$text" | tail -n +3 | esc
	printf '.fi\n'
done
