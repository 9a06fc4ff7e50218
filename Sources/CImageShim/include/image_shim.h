#pragma once
#include <stddef.h>
#include <stdint.h>

/// Photo decoding and encoding through libjpeg(-turbo) and libpng, with limits checked before any
/// pixel memory is allocated (a header may claim any size: decompression bombs).

typedef struct {
    int max_side;        // refuse images wider or taller than this
    long max_pixels;     // refuse images with more pixels than this
    int max_scans;       // refuse progressive JPEGs with more scans than this (CPU bombs)
    long max_chunk;      // libpng: largest ancillary chunk it may inflate (zTXt/iCCP bombs)
} postern_image_limits;

typedef struct {
    int width, height;   // of the decoded image
    unsigned char *rgb;  // width * height * 3, malloc'd; free with postern_image_free
} postern_image;

/// 1 = JPEG, 2 = PNG, 0 = neither (by signature).
int postern_image_kind(const unsigned char *data, size_t len);

/// Decodes a JPEG or PNG into 8-bit RGB (alpha composed over white). Returns 0 on success; on
/// failure a message in `err` (NUL-terminated, at most errlen bytes) and nothing to free.
int postern_image_decode(const unsigned char *data, size_t len, const postern_image_limits *limits,
                         postern_image *out, char *err, size_t errlen);

/// Area-averaging downscale of RGB pixels to dw × dh (dw <= w, dh <= h).
unsigned char *postern_image_scale(const unsigned char *rgb, int w, int h, int dw, int dh);

/// Baseline JPEG of RGB pixels (no metadata); *out is malloc'd.
int postern_image_encode_jpeg(const unsigned char *rgb, int w, int h, int quality,
                              unsigned char **out, unsigned long *outlen, char *err, size_t errlen);

/// PNG of RGB pixels (used by tests and the demo to make photos); *out is malloc'd.
int postern_image_encode_png(const unsigned char *rgb, int w, int h,
                             unsigned char **out, size_t *outlen, char *err, size_t errlen);

void postern_image_free(void *p);
