#!/bin/sh
# gen.sh DEXP2PD DEXP2P-CLI RPCHELP TEMPLATE - write the bash completion
# on stdout: TEMPLATE (dexp2p.in) with its @...@ lists filled from the
# built programs, so the completion offers exactly what -help and `help`
# list.
set -eu
daemon=$1 cli=$2 rpchelp=$3 template=$4

# "-name=<arg>  text" -> "-name=", "-name  text" -> "-name"; booleans
# (no argument, or <0|1>) also get their -noname form.
opts() {
	"$1" -help | awk '
		$1 ~ /^-[A-Za-z]/ && $1 != "-help," {
			o = $1; n = o; sub(/=.*/, "", n)
			if (o ~ /=/) print n "="; else print n
			if (o !~ /=/ || o ~ /=<0\|1>$/) print "-no" substr(n, 2)
		}
		END { print "-help" }' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

methods=$("$rpchelp" -names | tr '\n' ' ' | sed 's/ $//')
# Usage words like add|remove|onetry: "method position choices".
choices=$("$rpchelp" | awk '
	$0 !~ /^== / && NF > 1 {
		for (i = 2; i <= NF; i++)
			if ($i ~ /^[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)+$/) {
				c = $i; gsub(/\|/, " ", c)
				printf "\"%s %d %s\" ", $1, i - 1, c
			}
	}' | sed 's/ $//')

sed -e "s/@DAEMON_OPTS@/$(opts "$daemon")/" \
    -e "s/@CLI_OPTS@/$(opts "$cli")/" \
    -e "s/@METHODS@/$methods/" \
    -e "s/@CHOICES@/$choices/" "$template"
