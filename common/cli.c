/* The daemons' shared command line; see cli.h. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "version.h"

int
cli_daemon_args(const char *prog, int argc, char **argv, void (*usage)(FILE *),
    const char **path, int *debug, int *use_syslog)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ "syslog", no_argument, NULL, 's' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*debug = 0;
	*use_syslog = 0;
	while ((c = getopt_long(argc, argv, "c:dVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*path = optarg;
			break;
		case 'd':
			*debug = 1;
			break;
		case 's':
			*use_syslog = 1;
			break;
		case 'V':
			printf("%s (printredir) %s\n", prog, PRINTREDIR_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\nTry '%s --help'.\n",
		    prog, argv[optind], prog);
		return 2;
	}
	return -1;
}
