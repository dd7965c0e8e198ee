/*
 * rogue-broker: a broker that says what a test tells it to, for the hostile
 * cases of tests/hostile: it listens, runs the real handshake as a broker
 * (common/peer.c, with the master key, so the agent's own key is proved),
 * sends one printer set read from a file, and prints the install reports the
 * agent sends back.  It fetches nothing and watches no CUPS.
 *
 *   rogue-broker -l ADDR -k MASTER_KEY_FILE -s SET_FILE [-g GENERATION]
 *                [-n REPORTS] [-t SECONDS]
 *
 *   -g GEN      the set's generation (default 1; an agent takes a set of the
 *               generation it applied last for a replay)
 *   -n REPORTS  exit 0 after this many install reports (default 1)
 *   -t SECONDS  exit 1 when they have not come by then (default 20)
 *
 * SET_FILE: one field a line, "KEY=VALUE" with VALUE running to the end of
 * the line (tabs and all), a printer ended by a line "end":
 *   name=NAME  info=TEXT  location=TEXT  make_model=TEXT  uri=DEVICE_URI
 *   ppd=PATH   (its driver: sent with the set; without it, driver-missing)
 *   corrupt=1  (its driver's bytes do not match the hash sent for them)
 *   orphan=1   (its driver is sent, the printer itself is not)
 *
 * Output lines (tab-separated): "report NAME STATE DETAIL" for each printer
 * of a report on this set, then "reported GENERATION"; "closed REASON" at
 * the end.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr_uv.h"
#include "auth.h"
#include "codec.h"
#include "compress.h"
#include "hash.h"
#include "log.h"
#include "peer.h"
#include "statefile.h"

#define MAX_PRINTERS 64

struct rp {
	char *name, *info, *location, *make_model, *uri;
	uint8_t *ppd;
	size_t ppdlen;
	uint8_t sha[HASH_LEN];
	int corrupt;
	int orphan;
};

static struct rp printers[MAX_PRINTERS];
static size_t nprinters;
static int want = 1, got, exit_code = 1;
static unsigned long long generation = 1;
static uv_timer_t deadline;
static uv_stream_t *server;

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		exit(3);
	return d;
}

static void
read_set(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	struct rp *p = &printers[0];

	if (f == NULL) {
		fprintf(stderr, "rogue-broker: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f) != NULL && nprinters < MAX_PRINTERS) {
		char *v = strchr(line, '=');

		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "end") == 0) {
			p = &printers[++nprinters];
			continue;
		}
		if (v == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "name") == 0)
			p->name = xstrdup(v);
		else if (strcmp(line, "info") == 0)
			p->info = xstrdup(v);
		else if (strcmp(line, "location") == 0)
			p->location = xstrdup(v);
		else if (strcmp(line, "make_model") == 0)
			p->make_model = xstrdup(v);
		else if (strcmp(line, "uri") == 0)
			p->uri = xstrdup(v);
		else if (strcmp(line, "corrupt") == 0)
			p->corrupt = 1;
		else if (strcmp(line, "orphan") == 0)
			p->orphan = 1;
		else if (strcmp(line, "ppd") == 0) {
			char *data;

			if (statefile_read(v, 64 << 20, &data, &p->ppdlen) != 0) {
				fprintf(stderr, "rogue-broker: cannot read %s\n", v);
				exit(2);
			}
			p->ppd = (uint8_t *)data;
			hash_sha256(p->ppd, p->ppdlen, p->sha);
		}
	}
	fclose(f);
}

static void
send_set(struct peer *peer)
{
	codec_env_t env;
	Printredir__PrinterSet s = PRINTREDIR__PRINTER_SET__INIT;
	Printredir__Printer pv[MAX_PRINTERS], *pp[MAX_PRINTERS];
	Printredir__Driver dv[MAX_PRINTERS], *dp[MAX_PRINTERS];
	uint8_t *z[MAX_PRINTERS] = { 0 };
	size_t nd = 0, np = 0;

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET);
	env.printer_set = &s;
	s.has_generation = 1;
	s.generation = generation;
	for (size_t i = 0; i < nprinters; i++) {
		struct rp *r = &printers[i];
		size_t zlen;

		printredir__printer__init(&pv[i]);
		pv[i].name = r->name;
		pv[i].info = r->info;
		pv[i].location = r->location;
		pv[i].make_model = r->make_model;
		pv[i].host_device_uri = r->uri;
		pv[i].has_driver_state = 1;
		pv[i].driver_state = r->ppd ? PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE :
		    PRINTREDIR__DRIVER_STATE__DRIVER_MISSING;
		if (!r->orphan)
			pp[np++] = &pv[i];
		if (r->ppd == NULL)
			continue;
		pv[i].has_driver_sha256 = 1;
		pv[i].driver_sha256.data = r->sha;
		pv[i].driver_sha256.len = HASH_LEN;
		if (r->corrupt && r->ppdlen > 0)
			r->ppd[r->ppdlen / 2] ^= 0x20;	/* after hashing: a lie */
		if (compress_buf(r->ppd, r->ppdlen, &z[nd], &zlen) != 0)
			exit(3);
		printredir__driver__init(&dv[nd]);
		dv[nd].has_sha256 = 1;
		dv[nd].sha256.data = r->sha;
		dv[nd].sha256.len = HASH_LEN;
		dv[nd].has_compression = 1;
		dv[nd].compression = PRINTREDIR__COMPRESSION__COMPRESSION_ZLIB;
		dv[nd].has_size = 1;
		dv[nd].size = r->ppdlen;
		dv[nd].has_data = 1;
		dv[nd].data.data = z[nd];
		dv[nd].data.len = zlen;
		dp[nd] = &dv[nd];
		nd++;
	}
	s.n_printers = np;
	s.printers = pp;
	s.n_drivers = nd;
	s.drivers = dp;
	peer_send(peer, &env);
	for (size_t i = 0; i < nd; i++)
		free(z[i]);
}

static void
on_message(struct peer *p, codec_env_t *env, void *data)
{
	const Printredir__InstallReport *r = env->install_report;

	(void)data;
	/* An agent first says what it did with its last set: only the
	 * report on this one counts. */
	if (env->type == PRINTREDIR__MSG_TYPE__MSG_INSTALL_REPORT &&
	    r->generation == generation) {
		for (size_t i = 0; i < r->n_printers; i++)
			printf("report\t%s\t%s\t%s\n", r->printers[i]->name,
			    codec_printer_state_name(r->printers[i]->state),
			    r->printers[i]->detail ? r->printers[i]->detail : "");
		printf("reported\t%llu\n", (unsigned long long)r->generation);
		fflush(stdout);
		if (++got >= want) {
			exit_code = 0;
			peer_close(p, 0, "rogue-broker done");
		}
	}
	codec_free(env);
}

static void
on_close(struct peer *p, const char *reason, void *data)
{
	(void)p;
	(void)data;
	printf("closed\t%s\n", reason);
	fflush(stdout);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_close((uv_handle_t *)server, (uv_close_cb)free);
}

static void
on_ready(struct peer *p, void *data)
{
	(void)data;
	send_set(p);
}

static const struct peer_ops ops = {
	.on_ready = on_ready, .on_message = on_message, .on_close = on_close,
};
static struct peer_config cfg;

static void
on_connection(uv_stream_t *s, int status)
{
	uv_stream_t *client;

	if (status < 0 || addr_accept(s, &client, NULL) != 0)
		return;
	peer_new(client, &cfg, &ops, NULL);
}

static void
on_deadline(uv_timer_t *t)
{
	(void)t;
	fprintf(stderr, "rogue-broker: timed out after %d of %d reports\n", got, want);
	exit(1);
}

int
main(int argc, char **argv)
{
	struct addr a;
	uint8_t *key = NULL;
	size_t keylen = 0;
	const char *addr = NULL, *keyfile = NULL, *set = NULL;
	int c, timeout = 20;
	char err[512];
	uv_loop_t *loop;

	while ((c = getopt(argc, argv, "l:k:s:g:n:t:")) != -1) {
		switch (c) {
		case 'l': addr = optarg; break;
		case 'k': keyfile = optarg; break;
		case 's': set = optarg; break;
		case 'g': generation = strtoull(optarg, NULL, 10); break;
		case 'n': want = atoi(optarg); break;
		case 't': timeout = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: rogue-broker -l ADDR -k KEYFILE -s SET_FILE "
			    "[-g GENERATION] [-n REPORTS] [-t SECONDS]\n");
			return 2;
		}
	}
	log_init("rogue-broker", 1, getenv("ROGUE_DEBUG") != NULL);
	signal(SIGPIPE, SIG_IGN);
	if (addr == NULL || keyfile == NULL || set == NULL ||
	    addr_parse(addr, &a, err, sizeof(err)) != 0 ||
	    auth_load_key(keyfile, &key, &keylen, err, sizeof(err)) != 0) {
		fprintf(stderr, "rogue-broker: bad arguments: %s\n",
		    addr && keyfile && set ? err : "-l, -k and -s are needed");
		return 2;
	}
	read_set(set);
	cfg.auth.role = AUTH_BROKER;
	cfg.auth.key = key;
	cfg.auth.keylen = keylen;
	cfg.auth.id = "rogue";
	cfg.frame_cap = 8 << 20;
	cfg.name = "rogue-broker";
	loop = uv_default_loop();
	uv_timer_init(loop, &deadline);
	uv_timer_start(&deadline, on_deadline, (uint64_t)timeout * 1000, 0);
	if (addr_listen(loop, &a, 0600, 8, on_connection, NULL, &server, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "rogue-broker: %s\n", err);
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	uv_run(loop, UV_RUN_DEFAULT);
	addr_unlink(&a);
	uv_loop_close(loop);
	for (size_t i = 0; i < nprinters; i++) {
		free(printers[i].name);
		free(printers[i].info);
		free(printers[i].location);
		free(printers[i].make_model);
		free(printers[i].uri);
		free(printers[i].ppd);
	}
	free(key);
	return exit_code;
}
