/* 2-D float32 cross-correlations through oneDNN (Debian's libdnnl-dev, oneDNN 2.x C API):
 * forward, gradient with respect to the input and gradient with respect to the kernels.
 *
 * Called from rcnreid/dnnl_conv.py (ctypes), which builds this file once per compile cache.
 * Tensors are plain C-contiguous float32: x (N, C, H, W), w (O, C, KH, KW), y (N, O, HO, WO)
 * with HO = H + PT + PB - KH + 1 and WO = W + PL + PR - KW + 1 (stride 1, no dilation).
 *
 *   kind 0, forward:          a = x,  b = w,  out = y
 *   kind 1, input gradient:   a = dy, b = w,  out = dx
 *   kind 2, kernel gradient:  a = x,  b = dy, out = dw
 *
 * oneDNN picks its own memory layout for each tensor (format "any"; blocked layouts such as
 * nChw16c for its JIT kernels); plain tensors are reordered in and out. One primitive, with its
 * reorders and blocked buffers, is built per (kind, shape) and kept for the process's life.
 */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 512

typedef struct {
    int arg;                     /* DNNL_ARG_* of this tensor for the convolution primitive */
    dnnl_memory_t user;          /* plain layout, data handle set per call */
    dnnl_memory_t inner;         /* the primitive's layout, or NULL when it is the plain one */
    dnnl_primitive_t reorder;    /* user -> inner (inputs) or inner -> user (output) */
} tensor_t;

typedef struct {
    int kind;
    long key[11];                /* n, c, h, w, o, kh, kw, pt, pl, pb, pr */
    dnnl_primitive_t conv;
    tensor_t t[3];               /* a, b, out */
    char impl[64];
} entry_t;

static dnnl_engine_t engine = NULL;
static dnnl_stream_t stream = NULL;
static entry_t *entries[MAX_ENTRIES];
static int n_entries = 0;
static char last_error[256] = "";

#define CHECK(call)                                                                      \
    do {                                                                                 \
        dnnl_status_t s_ = (call);                                                       \
        if (s_ != dnnl_success) {                                                        \
            snprintf(last_error, sizeof last_error, "%s failed with status %d", #call,   \
                     (int)s_);                                                           \
            return NULL;                                                                 \
        }                                                                                \
    } while (0)

const char *rcnreid_onednn_last_error(void) { return last_error; }

static int setup(void) {
    if (engine) return 0;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) {
        snprintf(last_error, sizeof last_error, "no oneDNN CPU engine");
        return -1;
    }
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        snprintf(last_error, sizeof last_error, "no oneDNN stream");
        return -1;
    }
    return 0;
}

/* Plain memory object for `md` and, when the primitive wants another layout `want`, a blocked
 * buffer and the reorder between them (to_inner: user -> inner, else inner -> user). */
static entry_t *bind(entry_t *e, int i, int arg, const dnnl_memory_desc_t *md,
                     const dnnl_memory_desc_t *want, int to_inner) {
    tensor_t *t = &e->t[i];
    t->arg = arg;
    CHECK(dnnl_memory_create(&t->user, md, engine, DNNL_MEMORY_NONE));
    if (dnnl_memory_desc_equal(md, want)) return e;
    dnnl_primitive_desc_t rpd;
    CHECK(dnnl_memory_create(&t->inner, want, engine, DNNL_MEMORY_ALLOCATE));
    if (to_inner)
        CHECK(dnnl_reorder_primitive_desc_create(&rpd, md, engine, want, engine, NULL));
    else
        CHECK(dnnl_reorder_primitive_desc_create(&rpd, want, engine, md, engine, NULL));
    CHECK(dnnl_primitive_create(&t->reorder, rpd));
    dnnl_primitive_desc_destroy(rpd);
    return e;
}

static entry_t *build(int kind, const long *k) {
    long n = k[0], c = k[1], h = k[2], w = k[3], o = k[4], kh = k[5], kw = k[6];
    long pt = k[7], pl = k[8], pb = k[9], pr = k[10];
    long ho = h + pt + pb - kh + 1, wo = w + pl + pr - kw + 1;
    dnnl_dims_t xd = {n, c, h, w}, wd = {o, c, kh, kw}, yd = {n, o, ho, wo};
    dnnl_dims_t strides = {1, 1}, pad_l = {pt, pl}, pad_r = {pb, pr};
    dnnl_memory_desc_t x_plain, w_plain, y_plain, x_any, w_any, y_any;
    dnnl_convolution_desc_t fwd_d, d;
    dnnl_primitive_desc_t fwd_pd, pd;

    if (ho < 1 || wo < 1) {
        snprintf(last_error, sizeof last_error, "empty output %ldx%ld", ho, wo);
        return NULL;
    }
    CHECK(dnnl_memory_desc_init_by_tag(&x_plain, 4, xd, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&w_plain, 4, wd, dnnl_f32, dnnl_oihw));
    CHECK(dnnl_memory_desc_init_by_tag(&y_plain, 4, yd, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&x_any, 4, xd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&y_any, 4, yd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_convolution_forward_desc_init(&fwd_d, dnnl_forward_training,
                                             dnnl_convolution_direct, &x_any, &w_any, NULL,
                                             &y_any, strides, pad_l, pad_r));
    CHECK(dnnl_primitive_desc_create(&fwd_pd, &fwd_d, NULL, engine, NULL));

    entry_t *e = calloc(1, sizeof(entry_t));
    if (!e) { snprintf(last_error, sizeof last_error, "out of memory"); return NULL; }
    e->kind = kind;
    memcpy(e->key, k, sizeof e->key);
    if (kind == 0) {
        pd = fwd_pd;
        fwd_pd = NULL;
    } else {
        if (kind == 1)
            CHECK(dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &x_any,
                                                           &w_any, &y_any, strides, pad_l,
                                                           pad_r));
        else
            CHECK(dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct,
                                                              &x_any, &w_any, NULL, &y_any,
                                                              strides, pad_l, pad_r));
        CHECK(dnnl_primitive_desc_create(&pd, &d, NULL, engine, fwd_pd));
    }
#define MD(q) dnnl_primitive_desc_query_md(pd, q, 0)
    if (kind == 0) {
        if (!bind(e, 0, DNNL_ARG_SRC, &x_plain, MD(dnnl_query_src_md), 1)) return NULL;
        if (!bind(e, 1, DNNL_ARG_WEIGHTS, &w_plain, MD(dnnl_query_weights_md), 1)) return NULL;
        if (!bind(e, 2, DNNL_ARG_DST, &y_plain, MD(dnnl_query_dst_md), 0)) return NULL;
    } else if (kind == 1) {
        if (!bind(e, 0, DNNL_ARG_DIFF_DST, &y_plain, MD(dnnl_query_diff_dst_md), 1)) return NULL;
        if (!bind(e, 1, DNNL_ARG_WEIGHTS, &w_plain, MD(dnnl_query_weights_md), 1)) return NULL;
        if (!bind(e, 2, DNNL_ARG_DIFF_SRC, &x_plain, MD(dnnl_query_diff_src_md), 0)) return NULL;
    } else {
        if (!bind(e, 0, DNNL_ARG_SRC, &x_plain, MD(dnnl_query_src_md), 1)) return NULL;
        if (!bind(e, 1, DNNL_ARG_DIFF_DST, &y_plain, MD(dnnl_query_diff_dst_md), 1)) return NULL;
        if (!bind(e, 2, DNNL_ARG_DIFF_WEIGHTS, &w_plain, MD(dnnl_query_diff_weights_md), 0))
            return NULL;
    }
#undef MD
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
        impl)
        snprintf(e->impl, sizeof e->impl, "%s", impl);
    CHECK(dnnl_primitive_create(&e->conv, pd));
    dnnl_primitive_desc_destroy(pd);
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    return e;
}

static entry_t *lookup(int kind, const long *k) {
    for (int i = 0; i < n_entries; i++)
        if (entries[i]->kind == kind && !memcmp(entries[i]->key, k, sizeof entries[i]->key))
            return entries[i];
    if (setup()) return NULL;
    entry_t *e = build(kind, k);
    if (!e) return NULL;
    if (n_entries < MAX_ENTRIES) entries[n_entries++] = e;
    else {                       /* full: replace the oldest (primitives are kept, small) */
        memmove(entries, entries + 1, (MAX_ENTRIES - 1) * sizeof(entry_t *));
        entries[MAX_ENTRIES - 1] = e;
    }
    return e;
}

static int run(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args) {
    dnnl_status_t s = dnnl_primitive_execute(p, stream, nargs, args);
    if (s != dnnl_success) {
        snprintf(last_error, sizeof last_error, "dnnl_primitive_execute failed with status %d",
                 (int)s);
        return -1;
    }
    return 0;
}

/* The convolution of `kind` on plain tensors a, b into out (see the top of this file);
 * k = {n, c, h, w, o, kh, kw, pt, pl, pb, pr}. Returns 0, or -1 with rcnreid_onednn_last_error. */
int rcnreid_onednn_conv(int kind, const long *k, const float *a, const float *b, float *out) {
    entry_t *e = lookup(kind, k);
    if (!e) return -1;
    void *ptr[3] = {(void *)a, (void *)b, (void *)out};
    dnnl_exec_arg_t args[3];
    for (int i = 0; i < 3; i++) {
        tensor_t *t = &e->t[i];
        if (dnnl_memory_set_data_handle(t->user, ptr[i]) != dnnl_success) {
            snprintf(last_error, sizeof last_error, "dnnl_memory_set_data_handle failed");
            return -1;
        }
        if (t->reorder && i < 2) {
            dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, t->user}, {DNNL_ARG_TO, t->inner}};
            if (run(t->reorder, 2, r)) return -1;
        }
        args[i].arg = t->arg;
        args[i].memory = t->inner ? t->inner : t->user;
    }
    if (run(e->conv, 3, args)) return -1;
    tensor_t *t = &e->t[2];
    if (t->reorder) {
        dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, t->inner}, {DNNL_ARG_TO, t->user}};
        if (run(t->reorder, 2, r)) return -1;
    }
    dnnl_stream_wait(stream);
    return 0;
}

/* The oneDNN implementation chosen for a convolution (e.g. "jit:avx512_core"), into buf. */
int rcnreid_onednn_impl(int kind, const long *k, char *buf, int len) {
    entry_t *e = lookup(kind, k);
    if (!e) return -1;
    snprintf(buf, len, "%s", e->impl);
    return 0;
}

/* oneDNN's version, "major.minor.patch". */
void rcnreid_onednn_version(char *buf, int len) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, len, "%d.%d.%d", v->major, v->minor, v->patch);
}
