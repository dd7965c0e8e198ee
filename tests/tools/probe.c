/*
 * probe: a minimal agent for end-to-end tests of the broker.  It connects,
 * runs the real handshake (common/peer.c), and prints every printer set it
 * receives, one line per set and per printer, writing each driver it gets
 * to OUTDIR/SHA256.ppd after checking the hash.  It installs nothing.
 *
 *   probe -a ADDR -k KEYFILE [-i ID] [-o OUTDIR] [-n SETS] [-t SECONDS]
 *         [-r] [-H]
 *
 *   -n SETS     exit 0 after this many printer sets (default 1)
 *   -t SECONDS  exit 1 when they have not all come by then (default 20)
 *   -r          answer each set with an install report: every printer
 *               "installed", or "driver-missing" when its driver is
 *   -H          announce the drivers already in OUTDIR (as an agent does)
 *   -x COUNT    (with -r) the report also names COUNT printers the broker
 *               never sent, each with a 4,000-byte detail
 *   -f          (with -r) the report is on a generation the broker never made
 *
 * Output lines (tab-separated):
 *   set GENERATION NPRINTERS NDRIVERS UNIX_MS
 *   printer NAME DEVICE_URI DRIVER_STATE SHA256|- DETAIL
 *   driver SHA256 SIZE
 *   closed REASON
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "addr_uv.h"
#include "compress.h"
#include "hash.h"
#include "log.h"
#include "peer.h"
#include "statefile.h"

static const char *outdir = ".";
static int want = 1, got, report, invent, future, exit_code = 1;
static uv_timer_t deadline;
static uv_loop_t *loop;

static long long
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void
send_report(struct peer *p, const Printredir__PrinterSet *s)
{
	codec_env_t env;
	Printredir__InstallReport r = PRINTREDIR__INSTALL_REPORT__INIT;
	size_t n = s->n_printers + (size_t)invent;
	Printredir__PrinterReport *v = calloc(n + 1, sizeof(*v));
	Printredir__PrinterReport **pv = calloc(n + 1, sizeof(*pv));
	char (*names)[32] = calloc((size_t)invent + 1, sizeof(*names));
	static char detail[4001];

	memset(detail, 'x', sizeof(detail) - 1);
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_INSTALL_REPORT);
	env.install_report = &r;
	r.has_generation = 1;
	r.generation = s->generation + (future ? 1000000 : 0);
	for (size_t i = 0; i < s->n_printers; i++) {
		printredir__printer_report__init(&v[i]);
		v[i].name = s->printers[i]->name;
		v[i].has_state = 1;
		v[i].state = s->printers[i]->driver_state ==
		    PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE ?
		    PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED :
		    PRINTREDIR__PRINTER_STATE__PRINTER_DRIVER_MISSING;
		v[i].detail = "probe";
		pv[i] = &v[i];
	}
	for (size_t i = s->n_printers; i < n; i++) {
		printredir__printer_report__init(&v[i]);
		snprintf(names[i - s->n_printers], sizeof(names[0]), "invented_%zu",
		    i - s->n_printers);
		v[i].name = names[i - s->n_printers];
		v[i].has_state = 1;
		v[i].state = PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED;
		v[i].detail = detail;
		pv[i] = &v[i];
	}
	r.n_printers = n;
	r.printers = pv;
	peer_send(p, &env);
	free(v);
	free(pv);
	free(names);
}

static void
on_message(struct peer *p, codec_env_t *env, void *data)
{
	const Printredir__PrinterSet *s = env->printer_set;
	char hex[HASH_HEX_LEN], path[4200];

	(void)data;
	if (env->type != PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET) {
		codec_free(env);
		return;
	}
	printf("set\t%llu\t%zu\t%zu\t%lld\n", (unsigned long long)s->generation,
	    s->n_printers, s->n_drivers, now_ms());
	for (size_t i = 0; i < s->n_printers; i++) {
		const Printredir__Printer *pr = s->printers[i];

		if (pr->has_driver_sha256)
			hash_hex(pr->driver_sha256.data, hex);
		printf("printer\t%s\t%s\t%d\t%s\t%s\n", pr->name,
		    pr->host_device_uri ? pr->host_device_uri : "-",
		    pr->driver_state, pr->has_driver_sha256 ? hex : "-",
		    pr->detail ? pr->detail : "");
	}
	for (size_t i = 0; i < s->n_drivers; i++) {
		const Printredir__Driver *d = s->drivers[i];
		uint8_t *ppd = NULL, sha[HASH_LEN];
		size_t len = 0;

		if (compress_inflate(d->data.data, d->data.len, d->size, 64 << 20,
		    &ppd, &len) != 0 || hash_sha256(ppd, len, sha) != 0 ||
		    memcmp(sha, d->sha256.data, HASH_LEN) != 0) {
			fprintf(stderr, "probe: driver %zu does not match its hash\n", i);
			exit(3);
		}
		hash_hex(sha, hex);
		snprintf(path, sizeof(path), "%s/%s.ppd", outdir, hex);
		statefile_write(path, ppd, len, 0644);
		printf("driver\t%s\t%zu\n", hex, len);
		free(ppd);
	}
	fflush(stdout);
	if (report)
		send_report(p, s);
	codec_free(env);
	if (++got >= want) {
		exit_code = 0;
		peer_close(p, 0, "probe done");
	}
}

static void
on_close(struct peer *p, const char *reason, void *data)
{
	(void)p;
	(void)data;
	printf("closed\t%s\n", reason);
	fflush(stdout);
	uv_close((uv_handle_t *)&deadline, NULL);
}

static uint8_t (*hashes)[HASH_LEN];
static size_t nhashes;

/* As an agent does: the drivers it holds (none without -H) come first. */
static void
on_ready(struct peer *p, void *data)
{
	(void)data;
	peer_send_inventory(p, (const uint8_t (*)[HASH_LEN])hashes, nhashes);
}

static const struct peer_ops ops = {
	.on_ready = on_ready, .on_message = on_message, .on_close = on_close,
};
static struct peer_config cfg;

static void
on_connect(uv_connect_t *req, int status)
{
	if (status < 0) {
		fprintf(stderr, "probe: connect: %s\n", uv_strerror(status));
		uv_close((uv_handle_t *)req->handle, (uv_close_cb)free);
		uv_close((uv_handle_t *)&deadline, NULL);
		return;
	}
	peer_new(req->handle, &cfg, &ops, NULL);
}

static void
on_deadline(uv_timer_t *t)
{
	(void)t;
	fprintf(stderr, "probe: timed out after %d of %d printer sets\n", got, want);
	exit(1);
}

/* The drivers already in outdir, as an agent announces what it holds. */
static size_t
held(uint8_t (**out)[HASH_LEN])
{
	DIR *d = opendir(outdir);
	struct dirent *e;
	size_t n = 0;

	*out = NULL;
	while (d && (e = readdir(d)) != NULL) {
		char hex[HASH_HEX_LEN];

		if (strlen(e->d_name) != 68 || strcmp(e->d_name + 64, ".ppd") != 0)
			continue;
		memcpy(hex, e->d_name, 64);
		hex[64] = '\0';
		*out = realloc(*out, (n + 1) * sizeof(**out));
		if (hash_from_hex(hex, (*out)[n]) == 0)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

int
main(int argc, char **argv)
{
	struct addr a;
	uv_connect_t req;
	uv_stream_t *stream = NULL;
	uint8_t *key = NULL;
	size_t keylen = 0;
	const char *addr = NULL, *keyfile = NULL, *id = "probe";
	int c, timeout = 20, hold = 0;
	char err[512];

	while ((c = getopt(argc, argv, "a:k:i:o:n:t:rHx:f")) != -1) {
		switch (c) {
		case 'a': addr = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'i': id = optarg; break;
		case 'o': outdir = optarg; break;
		case 'n': want = atoi(optarg); break;
		case 't': timeout = atoi(optarg); break;
		case 'r': report = 1; break;
		case 'H': hold = 1; break;
		case 'x': invent = atoi(optarg); break;
		case 'f': future = 1; break;
		default:
			fprintf(stderr, "usage: probe -a ADDR -k KEYFILE [-i ID] [-o DIR] "
			    "[-n SETS] [-t SECONDS] [-r] [-H] [-x COUNT] [-f]\n");
			return 2;
		}
	}
	log_init("probe", 1, getenv("PROBE_DEBUG") != NULL);
	signal(SIGPIPE, SIG_IGN);	/* a broker that refuses us may close first */
	if (addr == NULL || keyfile == NULL || addr_parse(addr, &a, err, sizeof(err)) != 0 ||
	    auth_load_key(keyfile, &key, &keylen, err, sizeof(err)) != 0) {
		fprintf(stderr, "probe: bad arguments: %s\n", addr && keyfile ? err : "-a and -k");
		return 2;
	}
	cfg.auth.role = AUTH_AGENT;
	cfg.auth.key = key;
	cfg.auth.keylen = keylen;
	cfg.auth.id = id;
	cfg.name = "probe";
	if (hold)
		nhashes = held(&hashes);
	loop = uv_default_loop();
	uv_timer_init(loop, &deadline);
	uv_timer_start(&deadline, on_deadline, (uint64_t)timeout * 1000, 0);
	if (addr_connect(loop, &a, &req, &stream, on_connect, err, sizeof(err)) != 0) {
		fprintf(stderr, "probe: %s\n", err);
		return 1;
	}
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	free(key);
	free(hashes);
	return exit_code;
}
