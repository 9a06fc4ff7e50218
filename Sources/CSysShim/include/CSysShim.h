#ifndef POSTERN_CSYSSHIM_H
#define POSTERN_CSYSSHIM_H
/// Kernel structures and calls Swift's Glibc module does not export: input_event (its size differs
/// on 32-bit ARM), ptsname_r, EVIOCGRAB, hidraw ioctls.
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint16_t type;
    uint16_t code;
    int32_t value;
} postern_input_event;

/// sizeof(struct input_event) on this platform (24 on 64-bit, 16 on 32-bit ARM).
size_t postern_input_event_size(void);
/// Decodes one kernel input_event from `bytes` (at least postern_input_event_size()).
postern_input_event postern_input_event_decode(const void *bytes);
/// Encodes one event (time zeroed) into `out`; returns the bytes written.
size_t postern_input_event_encode(uint16_t type, uint16_t code, int32_t value, void *out);
/// EVIOCGRAB: 1 grabs the device exclusively, 0 releases it.
int postern_evdev_grab(int fd, int grab);
/// ptsname_r for a pty master.
int postern_ptsname(int fd, char *buf, size_t len);
/// TIOCEXCL on a tty.
int postern_tiocexcl(int fd);
/// 1 when the kernel says the wall clock is NTP-synchronised (adjtimex, STA_UNSYNC clear), else 0.
int postern_clock_synchronized(void);
/// HIDIOCGRAWINFO on a hidraw node: the USB vendor and product, or -1.
int postern_hidraw_ids(int fd, uint16_t *vendor, uint16_t *product);
/// HIDIOCSFEATURE: sends a feature report (report ID first); returns bytes sent or -1.
int postern_hidraw_set_feature(int fd, const uint8_t *report, size_t len);
#endif
