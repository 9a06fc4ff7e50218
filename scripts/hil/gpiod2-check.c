/* The libgpiod 2.x branch of Sources/CGpiodShim, exercised on a real gpio-sim chip in the HIL VM.
 * Debian 12 ships libgpiod 1.6, so the Swift build here only ever compiles the 1.6 branch; Pi OS
 * trixie and Debian 13 ship 2.x. setup.sh compiles shim.c against Debian 13's libgpiod 2.2 headers
 * with this driver, and guest/t_gpiod2.sh runs it against the chip the gpio scenario uses.
 * Usage: gpiod2-check /dev/gpiochipN /sys/devices/platform/gpio-sim.X/gpiochipN */
#include "CGpiodShim.h"
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
static const char *sim;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    if (!ok) failures++;
}

static int sim_value(int line) {
    char path[512], buf[8] = {0};
    snprintf(path, sizeof path, "%s/sim_gpio%d/value", sim, line);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    if (!fgets(buf, sizeof buf, f)) buf[0] = '?';
    fclose(f);
    return buf[0] == '1' ? 1 : buf[0] == '0' ? 0 : -1;
}

static void sim_pull(int line, const char *pull) {
    char path[512];
    snprintf(path, sizeof path, "%s/sim_gpio%d/pull", sim, line);
    FILE *f = fopen(path, "w");
    if (f) { fputs(pull, f); fclose(f); }
}

/* Waits up to 2 s for one edge; returns 1 rising, 0 falling, -1 none or error. */
static int next_edge(postern_gpio_line *in, uint64_t *ts) {
    struct pollfd p = { .fd = postern_gpio_event_fd(in), .events = POLLIN };
    if (p.fd < 0 || poll(&p, 1, 2000) != 1) return -1;
    return postern_gpio_read_event(in, ts);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s /dev/gpiochipN SIM_DIR\n", argv[0]); return 2; }
    sim = argv[2];
    check(postern_gpiod_api_version() == 2, "shim built against the libgpiod 2.x API");
    postern_gpio_chip *chip = postern_gpio_chip_open(argv[1]);
    check(chip != NULL, "chip opens");
    if (!chip) return 1;

    /* The relay: active-low, requested locked (logical 0 = physical high), never glitching. */
    postern_gpio_line *relay = postern_gpio_request_output(chip, 0, 1, 0, "postern-gpiod2");
    check(relay != NULL, "relay requested as an output");
    if (relay) {
        check(sim_value(0) == 1, "requested locked: active-low line driven high at once");
        check(postern_gpio_set(relay, 1) == 0 && sim_value(0) == 0, "set open: physical low");
        check(postern_gpio_get(relay) == 1, "reads back its logical value");
        check(postern_gpio_set(relay, 0) == 0 && sim_value(0) == 1, "set locked: physical high");
    }

    /* A door contact: both edges with kernel timestamps. */
    sim_pull(1, "pull-down");
    postern_gpio_line *door = postern_gpio_request_input(chip, 1, 0, "postern-gpiod2");
    check(door != NULL, "door contact requested as an input with edge events");
    if (door) {
        uint64_t t1 = 0, t2 = 0;
        check(postern_gpio_get(door) == 0, "input reads low");
        sim_pull(1, "pull-up");
        check(next_edge(door, &t1) == 1 && t1 > 0, "rising edge with a timestamp");
        check(postern_gpio_get(door) == 1, "input reads high");
        sim_pull(1, "pull-down");
        check(next_edge(door, &t2) == 0 && t2 > t1, "falling edge, later timestamp");
        postern_gpio_release(door);
    }
    if (relay) postern_gpio_release(relay);
    postern_gpio_chip_close(chip);
    printf("RESULT %d failed\n", failures);
    return failures ? 1 : 0;
}
