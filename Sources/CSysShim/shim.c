#define _GNU_SOURCE
#include "CSysShim.h"
#include <linux/input.h>
#include <linux/hidraw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/timex.h>

size_t postern_input_event_size(void) { return sizeof(struct input_event); }

postern_input_event postern_input_event_decode(const void *bytes) {
    struct input_event ev;
    memcpy(&ev, bytes, sizeof ev);
    postern_input_event out = { ev.type, ev.code, ev.value };
    return out;
}

size_t postern_input_event_encode(uint16_t type, uint16_t code, int32_t value, void *out) {
    struct input_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.code = code;
    ev.value = value;
    memcpy(out, &ev, sizeof ev);
    return sizeof ev;
}

int postern_evdev_grab(int fd, int grab) { return ioctl(fd, EVIOCGRAB, grab); }
int postern_ptsname(int fd, char *buf, size_t len) { return ptsname_r(fd, buf, len); }
int postern_tiocexcl(int fd) { return ioctl(fd, TIOCEXCL); }

/* 1 when the kernel says the wall clock is synchronised; 0 when it says not, or when it cannot be
 * asked (adjtimex denied, e.g. by a seccomp filter): an unknown clock is recorded as unsynced. */
int postern_clock_synchronized(void) {
    struct timex tx = {0};
    int state = adjtimex(&tx);
    if (state < 0) return 0;
    return state != TIME_ERROR && !(tx.status & STA_UNSYNC);
}

int postern_hidraw_ids(int fd, uint16_t *vendor, uint16_t *product) {
    struct hidraw_devinfo info;
    if (ioctl(fd, HIDIOCGRAWINFO, &info) < 0) return -1;
    *vendor = (uint16_t)info.vendor;
    *product = (uint16_t)info.product;
    return 0;
}

int postern_hidraw_set_feature(int fd, const uint8_t *report, size_t len) {
    return ioctl(fd, HIDIOCSFEATURE(len), report);
}
