#ifndef POSTERN_CGPIODSHIM_H
#define POSTERN_CGPIODSHIM_H
/// One small API over libgpiod that builds against 1.6 (Debian 12, Pi OS bookworm) and 2.x
/// (Debian 13, Pi OS trixie); the version is chosen at compile time. Every line is requested with
/// its initial value in the request itself, so it never glitches to the wrong state.
#include <stddef.h>
#include <stdint.h>

typedef struct postern_gpio_chip postern_gpio_chip;
typedef struct postern_gpio_line postern_gpio_line;

/// 1 or 2: the libgpiod API this shim was built against.
int postern_gpiod_api_version(void);
postern_gpio_chip *postern_gpio_chip_open(const char *path);
void postern_gpio_chip_close(postern_gpio_chip *chip);
/// Requests `offset` as an output with `initial` as its logical value (after active-low).
postern_gpio_line *postern_gpio_request_output(postern_gpio_chip *chip, unsigned offset, int active_low, int initial, const char *consumer);
/// Requests `offset` as an input with edge events on both edges.
postern_gpio_line *postern_gpio_request_input(postern_gpio_chip *chip, unsigned offset, int active_low, const char *consumer);
int postern_gpio_set(postern_gpio_line *line, int value);
int postern_gpio_get(postern_gpio_line *line);
/// A file descriptor that becomes readable when an edge event is pending (inputs only).
int postern_gpio_event_fd(postern_gpio_line *line);
/// Reads one pending edge: returns 1 rising, 0 falling, -1 on error. `ts_ns` gets the kernel timestamp.
int postern_gpio_read_event(postern_gpio_line *line, uint64_t *ts_ns);
void postern_gpio_release(postern_gpio_line *line);
#endif
