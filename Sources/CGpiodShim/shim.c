#include "CGpiodShim.h"
#include <gpiod.h>
#include <stdlib.h>
#include <errno.h>

#ifdef GPIOD_LINE_BULK_MAX_LINES
/* ---- libgpiod 1.x ---- */
struct postern_gpio_chip { struct gpiod_chip *chip; };
struct postern_gpio_line { struct gpiod_line *line; };

int postern_gpiod_api_version(void) { return 1; }

postern_gpio_chip *postern_gpio_chip_open(const char *path) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return NULL;
    postern_gpio_chip *p = malloc(sizeof *p);
    p->chip = c;
    return p;
}
void postern_gpio_chip_close(postern_gpio_chip *chip) { if (chip) { gpiod_chip_close(chip->chip); free(chip); } }

postern_gpio_line *postern_gpio_request_output(postern_gpio_chip *chip, unsigned offset, int active_low, int initial, const char *consumer) {
    struct gpiod_line *l = gpiod_chip_get_line(chip->chip, offset);
    if (!l) return NULL;
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (gpiod_line_request_output_flags(l, consumer, flags, initial) != 0) return NULL;
    postern_gpio_line *p = malloc(sizeof *p);
    p->line = l;
    return p;
}
postern_gpio_line *postern_gpio_request_input(postern_gpio_chip *chip, unsigned offset, int active_low, const char *consumer) {
    struct gpiod_line *l = gpiod_chip_get_line(chip->chip, offset);
    if (!l) return NULL;
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (gpiod_line_request_both_edges_events_flags(l, consumer, flags) != 0) return NULL;
    postern_gpio_line *p = malloc(sizeof *p);
    p->line = l;
    return p;
}
int postern_gpio_set(postern_gpio_line *line, int value) { return gpiod_line_set_value(line->line, value); }
int postern_gpio_get(postern_gpio_line *line) { return gpiod_line_get_value(line->line); }
int postern_gpio_event_fd(postern_gpio_line *line) { return gpiod_line_event_get_fd(line->line); }
int postern_gpio_read_event(postern_gpio_line *line, uint64_t *ts_ns) {
    struct gpiod_line_event ev;
    if (gpiod_line_event_read(line->line, &ev) != 0) return -1;
    if (ts_ns) *ts_ns = (uint64_t)ev.ts.tv_sec * 1000000000ull + (uint64_t)ev.ts.tv_nsec;
    return ev.event_type == GPIOD_LINE_EVENT_RISING_EDGE ? 1 : 0;
}
void postern_gpio_release(postern_gpio_line *line) { if (line) { gpiod_line_release(line->line); free(line); } }

#else
/* ---- libgpiod 2.x ---- */
struct postern_gpio_chip { struct gpiod_chip *chip; };
struct postern_gpio_line { struct gpiod_line_request *req; unsigned offset; struct gpiod_edge_event_buffer *buf; };

int postern_gpiod_api_version(void) { return 2; }

postern_gpio_chip *postern_gpio_chip_open(const char *path) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return NULL;
    postern_gpio_chip *p = malloc(sizeof *p);
    p->chip = c;
    return p;
}
void postern_gpio_chip_close(postern_gpio_chip *chip) { if (chip) { gpiod_chip_close(chip->chip); free(chip); } }

static postern_gpio_line *request(postern_gpio_chip *chip, unsigned offset, int active_low, int output, int initial, const char *consumer) {
    struct gpiod_line_settings *s = gpiod_line_settings_new();
    struct gpiod_line_config *lc = gpiod_line_config_new();
    struct gpiod_request_config *rc = gpiod_request_config_new();
    postern_gpio_line *p = NULL;
    if (!s || !lc || !rc) goto out;
    gpiod_line_settings_set_active_low(s, active_low);
    if (output) {
        gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_OUTPUT);
        gpiod_line_settings_set_output_value(s, initial ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
    } else {
        gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_INPUT);
        gpiod_line_settings_set_edge_detection(s, GPIOD_LINE_EDGE_BOTH);
    }
    if (gpiod_line_config_add_line_settings(lc, &offset, 1, s) != 0) goto out;
    gpiod_request_config_set_consumer(rc, consumer);
    struct gpiod_line_request *req = gpiod_chip_request_lines(chip->chip, rc, lc);
    if (!req) goto out;
    p = calloc(1, sizeof *p);
    p->req = req;
    p->offset = offset;
    if (!output) p->buf = gpiod_edge_event_buffer_new(1);
out:
    if (s) gpiod_line_settings_free(s);
    if (lc) gpiod_line_config_free(lc);
    if (rc) gpiod_request_config_free(rc);
    return p;
}
postern_gpio_line *postern_gpio_request_output(postern_gpio_chip *chip, unsigned offset, int active_low, int initial, const char *consumer) {
    return request(chip, offset, active_low, 1, initial, consumer);
}
postern_gpio_line *postern_gpio_request_input(postern_gpio_chip *chip, unsigned offset, int active_low, const char *consumer) {
    return request(chip, offset, active_low, 0, 0, consumer);
}
int postern_gpio_set(postern_gpio_line *line, int value) {
    return gpiod_line_request_set_value(line->req, line->offset, value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
}
int postern_gpio_get(postern_gpio_line *line) {
    enum gpiod_line_value v = gpiod_line_request_get_value(line->req, line->offset);
    return v == GPIOD_LINE_VALUE_ERROR ? -1 : (v == GPIOD_LINE_VALUE_ACTIVE);
}
int postern_gpio_event_fd(postern_gpio_line *line) { return gpiod_line_request_get_fd(line->req); }
int postern_gpio_read_event(postern_gpio_line *line, uint64_t *ts_ns) {
    if (!line->buf || gpiod_line_request_read_edge_events(line->req, line->buf, 1) < 1) return -1;
    struct gpiod_edge_event *ev = gpiod_edge_event_buffer_get_event(line->buf, 0);
    if (ts_ns) *ts_ns = gpiod_edge_event_get_timestamp_ns(ev);
    return gpiod_edge_event_get_event_type(ev) == GPIOD_EDGE_EVENT_RISING_EDGE ? 1 : 0;
}
void postern_gpio_release(postern_gpio_line *line) {
    if (!line) return;
    gpiod_line_request_release(line->req);
    if (line->buf) gpiod_edge_event_buffer_free(line->buf);
    free(line);
}
#endif
