// floor.c is the health-check benchmark's floor: what the kernel alone
// costs for TCP connect checks. One thread wakes every millisecond
// (clock_nanosleep to an absolute time) and, for every check due within
// the next millisecond, does socket, setsockopt(SO_LINGER 0), a blocking
// connect and close: nothing else. Each target keeps a random phase on a
// fixed grid, as healthcheck.Manager schedules checks. The clock is read
// once per wake-up; a check's lateness is that reading minus its due time.
//
//	floor TARGETS-FILE INTERVAL-NS [fin]
//
// With "fin" it skips SO_LINGER and closes gracefully (a FIN), as
// keepalived does, to tell the cost of the close from the rest.
// TARGETS-FILE lists a.b.c.d:port separated by white space. The program
// prints READY, counts from SIGUSR1 to SIGUSR2, then prints one JSON line
// (checks, failed, p50_ms, p99_ms, max_ms) and keeps going until SIGTERM.
// The benchmark compiles it with cc -O2 when a C compiler is present.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct target {
	struct sockaddr_in sa;
	long long phase;
};

#define BUCKETS 100001 /* 100 us each, up to 10 s */
static unsigned long long hist[BUCKETS];
static unsigned long long ok, failed;
static long long maxlate;
static volatile sig_atomic_t counting, report;

static void on_start(int sig) { (void)sig; counting = 1; }
static void on_stop(int sig) { (void)sig; counting = 0; report = 1; }

static int by_phase(const void *a, const void *b) {
	long long x = ((const struct target *)a)->phase, y = ((const struct target *)b)->phase;
	return (x > y) - (x < y);
}

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double quantile(double q) {
	unsigned long long total = ok + failed, want = (unsigned long long)(q * (double)total), acc = 0;
	if (total == 0)
		return 0;
	if (want == 0)
		want = 1;
	for (int i = 0; i < BUCKETS; i++)
		if ((acc += hist[i]) >= want)
			return (i + 1) / 10.0;
	return BUCKETS / 10.0;
}

int main(int argc, char **argv) {
	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "fin") == 0)) {
		fprintf(stderr, "usage: floor TARGETS-FILE INTERVAL-NS [fin]\n");
		return 2;
	}
	int rst = argc == 3;
	long long interval = atoll(argv[2]);
	FILE *f = fopen(argv[1], "r");
	if (!f || interval <= 0) {
		perror("floor: targets");
		return 1;
	}
	size_t n = 0, cap = 1024;
	struct target *ts = malloc(cap * sizeof *ts);
	char addr[64];
	int port;
	srandom((unsigned)(now_ns() ^ getpid()));
	while (fscanf(f, " %63[0-9.]:%d", addr, &port) == 2) {
		if (n == cap)
			ts = realloc(ts, (cap *= 2) * sizeof *ts);
		memset(&ts[n], 0, sizeof ts[n]);
		ts[n].sa.sin_family = AF_INET;
		ts[n].sa.sin_port = htons((unsigned short)port);
		if (inet_pton(AF_INET, addr, &ts[n].sa.sin_addr) != 1) {
			fprintf(stderr, "floor: bad address %s\n", addr);
			return 1;
		}
		ts[n].phase = (long long)((double)random() / ((double)RAND_MAX + 1) * (double)interval);
		n++;
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "floor: no targets\n");
		return 1;
	}
	qsort(ts, n, sizeof *ts, by_phase);
	// SA_RESTART keeps a signal from failing a connect; clock_nanosleep
	// still returns EINTR, which is how SIGUSR2 gets its report out.
	struct sigaction sa = {0};
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_start;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_stop;
	sigaction(SIGUSR2, &sa, NULL);
	printf("READY\n");
	fflush(stdout);

	const long long tick = 1000000;
	struct linger lg = {1, 0};
	long long t0 = now_ns(), cycle = 0;
	size_t next = 0;
	for (long long k = 1;; k++) {
		long long wake = t0 + k * tick;
		struct timespec w = {wake / 1000000000LL, wake % 1000000000LL};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &w, NULL) != 0 && !report)
			;
		if (report) {
			report = 0;
			printf("{\"checks\":%llu,\"failed\":%llu,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f}\n",
			       ok + failed, failed, quantile(0.5), quantile(0.99), maxlate / 1e6);
			fflush(stdout);
		}
		long long now = now_ns() - t0;
		while (cycle + ts[next].phase <= now + tick) {
			long long late = now - (cycle + ts[next].phase);
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = fd < 0;
			if (!err) {
				if (rst)
					setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
				err = connect(fd, (struct sockaddr *)&ts[next].sa, sizeof ts[next].sa) != 0;
				close(fd);
			}
			if (counting) {
				if (late < 0)
					late = 0;
				if (late > maxlate)
					maxlate = late;
				long long b = late / 100000;
				hist[b < BUCKETS ? b : BUCKETS - 1]++;
				if (err)
					failed++;
				else
					ok++;
			}
			if (++next == n) {
				next = 0;
				cycle += interval;
			}
		}
	}
}
