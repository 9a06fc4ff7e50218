#include "image_shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <png.h>

int postern_image_kind(const unsigned char *d, size_t n) {
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return 1;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (n >= 8 && memcmp(d, sig, 8) == 0) return 2;
    return 0;
}

static int too_big(long w, long h, const postern_image_limits *l, char *err, size_t errlen) {
    if (w <= 0 || h <= 0) { snprintf(err, errlen, "image has no pixels"); return 1; }
    if (w > l->max_side || h > l->max_side || w * h > l->max_pixels) {
        snprintf(err, errlen, "image is %ldx%ld; at most %d per side and %ld pixels", w, h, l->max_side, l->max_pixels);
        return 1;
    }
    return 0;
}

/* ---- JPEG ---- */

struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr c) {
    struct jerr *e = (struct jerr *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr c, int level) { (void)c; (void)level; }

struct jprogress {
    struct jpeg_progress_mgr mgr;
    int max_scans;
};

static void jpeg_scan_limit(j_common_ptr c) {
    struct jprogress *p = (struct jprogress *)c->progress;
    if (c->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)c;
        if (d->input_scan_number > p->max_scans) {
            struct jerr *e = (struct jerr *)c->err;
            snprintf(e->msg, sizeof e->msg, "progressive JPEG with more than %d scans", p->max_scans);
            longjmp(e->jump, 1);
        }
    }
}

static int decode_jpeg(const unsigned char *data, size_t len, const postern_image_limits *l,
                       postern_image *out, char *err, size_t errlen) {
    struct jpeg_decompress_struct c;
    struct jerr e;
    struct jprogress prog;
    unsigned char *volatile pix = NULL;
    memset(&c, 0, sizeof c);
    c.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = jpeg_fail;
    e.mgr.emit_message = jpeg_quiet;
    e.msg[0] = 0;
    if (setjmp(e.jump)) {
        snprintf(err, errlen, "JPEG: %s", e.msg[0] ? e.msg : "invalid data");
        jpeg_destroy_decompress(&c);
        free(pix);
        return 1;
    }
    jpeg_create_decompress(&c);
    c.mem->max_memory_to_use = 256L << 20;
    prog.mgr.progress_monitor = jpeg_scan_limit;
    prog.max_scans = l->max_scans;
    c.progress = &prog.mgr;
    jpeg_mem_src(&c, data, (unsigned long)len);
    if (jpeg_read_header(&c, TRUE) != JPEG_HEADER_OK) {
        snprintf(err, errlen, "JPEG: no image");
        jpeg_destroy_decompress(&c);
        return 1;
    }
    if (too_big(c.image_width, c.image_height, l, err, errlen)) {
        jpeg_destroy_decompress(&c);
        return 1;
    }
    c.out_color_space = JCS_RGB;  /* grayscale, YCbCr and (Adobe) CMYK/YCCK all come out RGB */
    if (c.jpeg_color_space == JCS_CMYK || c.jpeg_color_space == JCS_YCCK) c.out_color_space = JCS_CMYK;
    jpeg_start_decompress(&c);
    int w = (int)c.output_width, h = (int)c.output_height, comps = c.output_components;
    pix = malloc((size_t)w * h * 3);
    unsigned char *row = malloc((size_t)w * comps);
    if (!pix || !row) {
        free(row);
        snprintf(e.msg, sizeof e.msg, "out of memory");
        longjmp(e.jump, 1);
    }
    while (c.output_scanline < c.output_height) {
        int y = (int)c.output_scanline;
        JSAMPROW rows[1] = {row};
        if (jpeg_read_scanlines(&c, rows, 1) != 1) break;
        unsigned char *dst = pix + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            if (comps == 4) {  /* Adobe CMYK is stored inverted */
                int k = row[x * 4 + 3];
                dst[x * 3 + 0] = (unsigned char)(row[x * 4 + 0] * k / 255);
                dst[x * 3 + 1] = (unsigned char)(row[x * 4 + 1] * k / 255);
                dst[x * 3 + 2] = (unsigned char)(row[x * 4 + 2] * k / 255);
            } else if (comps == 3) {
                memcpy(dst + x * 3, row + x * 3, 3);
            } else {
                dst[x * 3] = dst[x * 3 + 1] = dst[x * 3 + 2] = row[x];
            }
        }
    }
    free(row);
    if (c.output_scanline < c.output_height) {
        snprintf(e.msg, sizeof e.msg, "truncated image");
        longjmp(e.jump, 1);
    }
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    out->width = w;
    out->height = h;
    out->rgb = pix;
    return 0;
}

/* ---- PNG ---- */

struct pngsrc {
    const unsigned char *data;
    size_t len, pos;
};

struct pngerr {
    char msg[160];
};

static void png_read_mem(png_structp p, png_bytep dst, size_t n) {
    struct pngsrc *s = png_get_io_ptr(p);
    if (s->len - s->pos < n) png_error(p, "truncated file");
    memcpy(dst, s->data + s->pos, n);
    s->pos += n;
}

static void png_fail(png_structp p, png_const_charp m) {
    struct pngerr *e = png_get_error_ptr(p);
    snprintf(e->msg, sizeof e->msg, "%s", m);
    png_longjmp(p, 1);
}

static void png_quiet(png_structp p, png_const_charp m) { (void)p; (void)m; }

static int decode_png(const unsigned char *data, size_t len, const postern_image_limits *l,
                      postern_image *out, char *err, size_t errlen) {
    struct pngerr e = {{0}};
    struct pngsrc src = {data, len, 0};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &e, png_fail, png_quiet);
    if (!p) { snprintf(err, errlen, "PNG: out of memory"); return 1; }
    png_infop info = png_create_info_struct(p);
    unsigned char *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(p))) {
        snprintf(err, errlen, "PNG: %s", e.msg[0] ? e.msg : "invalid data");
        png_destroy_read_struct(&p, &info, NULL);
        free(pix);
        free(rows);
        return 1;
    }
    png_set_user_limits(p, (png_uint_32)l->max_side, (png_uint_32)l->max_side);
    png_set_chunk_malloc_max(p, (png_alloc_size_t)l->max_chunk);
    png_set_chunk_cache_max(p, 128);
    png_set_read_fn(p, &src, png_read_mem);
    png_read_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    if (too_big((long)w, (long)h, l, err, errlen)) {
        png_destroy_read_struct(&p, &info, NULL);
        return 1;
    }
    png_set_expand(p);         /* palette → RGB, gray < 8 bits → 8, tRNS → alpha */
    png_set_strip_16(p);
    png_set_gray_to_rgb(p);
    png_set_add_alpha(p, 0xFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    if (png_get_rowbytes(p, info) != (size_t)w * 4) png_error(p, "unexpected pixel layout");
    pix = malloc((size_t)w * h * 4);
    rows = malloc(sizeof(png_bytep) * h);
    if (!pix || !rows) png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pix + (size_t)y * w * 4;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    png_destroy_read_struct(&p, &info, NULL);
    free(rows);
    /* Compose over white and pack to RGB in place. */
    for (size_t i = 0; i < (size_t)w * h; i++) {
        unsigned a = pix[i * 4 + 3];
        for (int k = 0; k < 3; k++) pix[i * 3 + k] = (unsigned char)((pix[i * 4 + k] * a + 255 * (255 - a)) / 255);
    }
    out->width = (int)w;
    out->height = (int)h;
    out->rgb = pix;
    return 0;
}

int postern_image_decode(const unsigned char *data, size_t len, const postern_image_limits *limits,
                         postern_image *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    switch (postern_image_kind(data, len)) {
    case 1: return decode_jpeg(data, len, limits, out, err, errlen);
    case 2: return decode_png(data, len, limits, out, err, errlen);
    default: snprintf(err, errlen, "neither a JPEG nor a PNG"); return 1;
    }
}

unsigned char *postern_image_scale(const unsigned char *rgb, int w, int h, int dw, int dh) {
    unsigned char *out = malloc((size_t)dw * dh * 3);
    if (!out) return NULL;
    for (int y = 0; y < dh; y++) {
        int y0 = (int)((long)y * h / dh), y1 = (int)((long)(y + 1) * h / dh);
        if (y1 <= y0) y1 = y0 + 1;
        for (int x = 0; x < dw; x++) {
            int x0 = (int)((long)x * w / dw), x1 = (int)((long)(x + 1) * w / dw);
            if (x1 <= x0) x1 = x0 + 1;
            unsigned long sum[3] = {0, 0, 0}, n = 0;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++) {
                    const unsigned char *s = rgb + ((size_t)yy * w + xx) * 3;
                    sum[0] += s[0]; sum[1] += s[1]; sum[2] += s[2];
                    n++;
                }
            for (int k = 0; k < 3; k++) out[((size_t)y * dw + x) * 3 + k] = (unsigned char)((sum[k] + n / 2) / n);
        }
    }
    return out;
}

int postern_image_encode_jpeg(const unsigned char *rgb, int w, int h, int quality,
                              unsigned char **out, unsigned long *outlen, char *err, size_t errlen) {
    struct jpeg_compress_struct c;
    struct jerr e;
    memset(&c, 0, sizeof c);
    *out = NULL;
    *outlen = 0;
    c.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = jpeg_fail;
    e.msg[0] = 0;
    if (setjmp(e.jump)) {
        snprintf(err, errlen, "JPEG encode: %s", e.msg);
        jpeg_destroy_compress(&c);
        free(*out);
        *out = NULL;
        return 1;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, out, outlen);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    c.write_JFIF_header = TRUE;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return 0;
}

struct pngdst {
    unsigned char *data;
    size_t len, cap;
};

static void png_write_mem(png_structp p, png_bytep src, size_t n) {
    struct pngdst *d = png_get_io_ptr(p);
    if (d->len + n > d->cap) {
        size_t cap = (d->cap ? d->cap * 2 : 4096);
        while (cap < d->len + n) cap *= 2;
        unsigned char *m = realloc(d->data, cap);
        if (!m) png_error(p, "out of memory");
        d->data = m;
        d->cap = cap;
    }
    memcpy(d->data + d->len, src, n);
    d->len += n;
}

static void png_flush_mem(png_structp p) { (void)p; }

int postern_image_encode_png(const unsigned char *rgb, int w, int h,
                             unsigned char **out, size_t *outlen, char *err, size_t errlen) {
    struct pngerr e = {{0}};
    struct pngdst d = {NULL, 0, 0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &e, png_fail, png_quiet);
    if (!p) { snprintf(err, errlen, "PNG encode: out of memory"); return 1; }
    png_infop info = png_create_info_struct(p);
    if (!info || setjmp(png_jmpbuf(p))) {
        snprintf(err, errlen, "PNG encode: %s", e.msg);
        png_destroy_write_struct(&p, &info);
        free(d.data);
        return 1;
    }
    png_set_write_fn(p, &d, png_write_mem, png_flush_mem);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < h; y++) png_write_row(p, (png_const_bytep)(rgb + (size_t)y * w * 3));
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    *out = d.data;
    *outlen = d.len;
    return 0;
}

void postern_image_free(void *p) { free(p); }
