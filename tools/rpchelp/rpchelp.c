/* rpchelp - print what dexp2pd's `help` method answers, without a daemon.
 *
 *   rpchelp            the method list (API.md 5.6), as `help` returns it
 *   rpchelp <method>   that method's usage line and description
 *   rpchelp -names     every method name, one per line
 *
 * The build uses it to write dexp2p-cli(1) and the shell completion from
 * the same method tables the daemon answers with (rpc_help_text()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/rpc.h"

int main(int argc, char **argv)
{
	size_t len;
	char *text;

	if (argc > 2) {
		fputs("usage: rpchelp [-names | <method>]\n", stderr);
		return 2;
	}
	if (argc == 2 && !strcmp(argv[1], "-names")) {
		/* Names are the first word of each usage line of the list. */
		char *line, *save = NULL;

		text = rpc_help_text(NULL, 0, &len);
		for (line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			if (!strncmp(line, "== ", 3))
				continue;
			printf("%.*s\n", (int)strcspn(line, " "), line);
		}
		free(text);
		return 0;
	}
	text = rpc_help_text(argc == 2 ? argv[1] : NULL,
	                     argc == 2 ? strlen(argv[1]) : 0, &len);
	fwrite(text, 1, len, stdout);
	putchar('\n');
	free(text);
	return 0;
}
