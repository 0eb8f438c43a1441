/* PyTorch checkpoints (torch.save >= 1.6): a zip holding <archive>/data.pkl
 * and one entry <archive>/data/<key> per storage. data.pkl runs on a small
 * pickle VM that never executes anything: GLOBAL only records a name, and
 * REDUCE/NEWOBJ recognise a handful of callables (OrderedDict, dict,
 * torch._utils._rebuild_tensor_v2/_v3, _rebuild_parameter); any other call
 * yields an opaque object. The state_dict is then picked out of the result,
 * and its tensors are gathered (offsets, strides, shared storages) and
 * converted to float32 straight into one block.
 *
 * Hostile input: every read is bounds-checked, the stack, marks, memo,
 * objects and container items are capped (SONO_E_LIMIT), every view is checked
 * against its storage and every storage against its zip entry before any
 * data is touched. */
#include <stdlib.h>
#include <string.h>
#include "tensorset.h"
#include "sono_internal.h"
#include "tensors.h"
#include "zipread.h"

#define MAX_STACK ((size_t)1 << 20)
#define MAX_MARKS ((size_t)1 << 16)
#define MAX_MEMO ((size_t)1 << 22)
#define MAX_OBJS ((size_t)1 << 22)
#define MAX_ITEMS ((size_t)1 << 24)
#define MAX_DEPTH 6   /* how deep below the top dict a state_dict is looked for */
#define CHUNK_OBJS 1024

enum pk_type {
    PK_NONE, PK_BOOL, PK_INT, PK_BIGINT, PK_FLOAT, PK_STR, PK_BYTES, PK_TUPLE, PK_LIST, PK_DICT, PK_SET,
    PK_GLOBAL, PK_STORAGE, PK_TENSOR, PK_OBJECT
};
static const char *const type_names[] = {
    "None", "bool", "int", "int", "float", "str", "bytes", "tuple", "list", "dict", "set",
    "global", "storage", "tensor", "object",
};

/* callables and classes the VM knows by name */
enum pk_global { G_OTHER, G_ORDERED_DICT, G_DICT, G_REBUILD_V2, G_REBUILD_V3, G_REBUILD_PARAM, G_STORAGE, G_DTYPE };

typedef struct pk_obj pk_obj;
struct pk_obj {
    uint8_t type;
    uint8_t visited;   /* state_dict search */
    uint8_t gkind;     /* PK_GLOBAL: enum pk_global */
    int8_t dtype;      /* PK_GLOBAL G_STORAGE/G_DTYPE: enum tdtype, or -1 for one we cannot read */
    union {
        int64_t i;                               /* BOOL, INT; STORAGE, TENSOR: index into the VM's tables */
        double f;
        struct { const char *p; size_t len; } s; /* STR, BYTES (into the pickle); GLOBAL: its name */
        struct { pk_obj **v; size_t n, cap; } seq; /* TUPLE, LIST, SET; DICT: key, value, key, value... */
    } u;
};

typedef struct pk_chunk {
    struct pk_chunk *next;
    size_t used;
    pk_obj o[CHUNK_OBJS];
} pk_chunk;

typedef struct {
    const char *key;       /* zip entry <archive>/data/<key> */
    size_t key_len;
    const char *type_name; /* for messages */
    size_t type_len;
    int dtype;             /* -1: storage type we cannot read */
    uint64_t numel;        /* elements of dtype */
} pk_storage;

typedef struct {
    size_t storage;
    int dtype;             /* -1: unreadable */
    int ndim;
    uint64_t offset;       /* in elements */
    int64_t shape[SONO_MAX_DIMS];
    uint64_t stride[SONO_MAX_DIMS];
    uint64_t numel;
    uint64_t span;         /* 1 + largest element index reached (0 when numel is 0) */
} pk_tensor;

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    pk_obj **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    pk_obj **memo;
    size_t memo_cap, memo_count;
    pk_chunk *chunks;
    size_t n_objs, n_items;
    pk_storage *storages;
    size_t n_storages, storages_cap;
    pk_tensor *tensors;
    size_t n_tensors, tensors_cap;
    pk_obj *none, *yes, *no;
} pk_vm;

/* ---- allocation ---- */

/* Array growth: returns p, or a larger copy holding at least want elements;
 * NULL with *rc set when max is passed or memory runs out. */
static void *grow_buf(void *p, size_t *cap, size_t want, size_t elem, size_t max, const char *what, int *rc) {
    *rc = 0;
    if (want <= *cap) return p;
    if (want > max) {
        *rc = sn_fail(SONO_E_LIMIT, "pickle: more than %zu %s", max, what);
        return NULL;
    }
    size_t ncap = *cap ? *cap : 16;
    while (ncap < want) ncap *= 2;
    if (ncap > max) ncap = max;
    void *np = realloc(p, ncap * elem);
    if (!np) {
        *rc = sn_fail(SONO_E_NOMEM, "pickle: out of memory (%s)", what);
        return NULL;
    }
    *cap = ncap;
    return np;
}
#define GROW(rc, arr, cap, want, max, what)                                                  \
    do {                                                                                     \
        void *np_ = grow_buf((arr), &(cap), (want), sizeof *(arr), (max), (what), &(rc));  \
        if (np_) (arr) = np_;                                                                \
    } while (0)

static pk_obj *new_obj(pk_vm *vm, int type) {
    if (vm->n_objs >= MAX_OBJS) {
        sn_fail(SONO_E_LIMIT, "pickle: more than %zu objects", MAX_OBJS);
        return NULL;
    }
    if (!vm->chunks || vm->chunks->used == CHUNK_OBJS) {
        pk_chunk *c = malloc(sizeof *c);
        if (!c) {
            sn_fail(SONO_E_NOMEM, "pickle: out of memory");
            return NULL;
        }
        c->next = vm->chunks;
        c->used = 0;
        vm->chunks = c;
    }
    pk_obj *o = &vm->chunks->o[vm->chunks->used++];
    memset(o, 0, sizeof *o);
    o->type = (uint8_t)type;
    vm->n_objs++;
    return o;
}

static int seq_push(pk_vm *vm, pk_obj *c, pk_obj *item) {
    if (vm->n_items >= MAX_ITEMS) return sn_fail(SONO_E_LIMIT, "pickle: more than %zu container items", MAX_ITEMS);
    int rc;
    GROW(rc, c->u.seq.v, c->u.seq.cap, c->u.seq.n + 1, MAX_ITEMS, "container items");
    if (rc < 0) return rc;
    c->u.seq.v[c->u.seq.n++] = item;
    vm->n_items++;
    return 0;
}

static void vm_free(pk_vm *vm) {
    for (pk_chunk *c = vm->chunks, *next; c; c = next) {
        next = c->next;
        for (size_t i = 0; i < c->used; i++) {
            int t = c->o[i].type;
            if (t == PK_TUPLE || t == PK_LIST || t == PK_DICT || t == PK_SET) free(c->o[i].u.seq.v);
        }
        free(c);
    }
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
    free(vm->storages);
    free(vm->tensors);
}

/* ---- stack ---- */

static int push(pk_vm *vm, pk_obj *o) {
    if (!o) return SONO_E_NOMEM; /* new_obj already said why */
    int rc;
    GROW(rc, vm->stack, vm->stack_cap, vm->sp + 1, MAX_STACK, "stack entries");
    if (rc < 0) return rc;
    vm->stack[vm->sp++] = o;
    return 0;
}

static size_t frame_base(const pk_vm *vm) { return vm->n_marks ? vm->marks[vm->n_marks - 1] : 0; }

static int pop(pk_vm *vm, pk_obj **o) {
    if (vm->sp <= frame_base(vm)) return sn_fail(SONO_E_FORMAT, "pickle: stack underflow at offset %zu", vm->pos - 1);
    *o = vm->stack[--vm->sp];
    return 0;
}

static int top(pk_vm *vm, pk_obj **o) {
    if (vm->sp <= frame_base(vm)) return sn_fail(SONO_E_FORMAT, "pickle: empty stack at offset %zu", vm->pos - 1);
    *o = vm->stack[vm->sp - 1];
    return 0;
}

/* Remove the topmost mark; the items above it are stack[*base .. vm->sp). */
static int pop_mark(pk_vm *vm, size_t *base) {
    if (!vm->n_marks) return sn_fail(SONO_E_FORMAT, "pickle: no MARK at offset %zu", vm->pos - 1);
    *base = vm->marks[--vm->n_marks];
    return 0;
}

/* ---- reading ---- */

static int need(pk_vm *vm, size_t k) {
    if (vm->n - vm->pos < k) return sn_fail(SONO_E_TRUNCATED, "pickle: ends inside an opcode at offset %zu", vm->pos);
    return 0;
}

static uint64_t rd_le(const uint8_t *p, int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int push_int(pk_vm *vm, int64_t v) {
    pk_obj *o = new_obj(vm, PK_INT);
    if (o) o->u.i = v;
    return push(vm, o);
}

static int push_str(pk_vm *vm, int type, size_t len_bytes) {
    int rc = need(vm, len_bytes);
    if (rc < 0) return rc;
    uint64_t len = rd_le(vm->p + vm->pos, (int)len_bytes);
    vm->pos += len_bytes;
    if (len > vm->n - vm->pos) return sn_fail(SONO_E_TRUNCATED, "pickle: string of %llu bytes runs past the end", (unsigned long long)len);
    pk_obj *o = new_obj(vm, type);
    if (o) {
        o->u.s.p = (const char *)vm->p + vm->pos;
        o->u.s.len = (size_t)len;
    }
    vm->pos += (size_t)len;
    return push(vm, o);
}

static int memo_put(pk_vm *vm, uint64_t idx) {
    pk_obj *o = NULL;
    int rc = top(vm, &o);
    if (rc < 0) return rc;
    if (idx >= MAX_MEMO) return sn_fail(SONO_E_LIMIT, "pickle: memo index %llu beyond %zu", (unsigned long long)idx, MAX_MEMO);
    size_t old = vm->memo_cap;
    GROW(rc, vm->memo, vm->memo_cap, (size_t)idx + 1, MAX_MEMO, "memo entries");
    if (rc < 0) return rc;
    if (vm->memo_cap > old) memset(vm->memo + old, 0, (vm->memo_cap - old) * sizeof(pk_obj *));
    if (!vm->memo[idx]) vm->memo_count++;
    vm->memo[idx] = o;
    return 0;
}

static int memo_get(pk_vm *vm, uint64_t idx) {
    if (idx >= vm->memo_cap || !vm->memo[idx])
        return sn_fail(SONO_E_FORMAT, "pickle: memo entry %llu missing at offset %zu", (unsigned long long)idx, vm->pos);
    return push(vm, vm->memo[idx]);
}

/* ---- globals ---- */

static int str_is(const char *p, size_t len, const char *lit) { return strlen(lit) == len && !memcmp(p, lit, len); }

static const struct { const char *name; int dtype; } storage_types[] = {
    {"FloatStorage", TD_F32}, {"DoubleStorage", TD_F64}, {"HalfStorage", TD_F16}, {"BFloat16Storage", TD_BF16},
    {"LongStorage", TD_I64}, {"IntStorage", TD_I32}, {"ShortStorage", TD_I16}, {"CharStorage", TD_I8},
    {"ByteStorage", TD_U8}, {"BoolStorage", TD_BOOL}, {"UntypedStorage", TD_U8},
};
static const struct { const char *name; int dtype; } dtype_names[] = {
    {"float32", TD_F32}, {"float", TD_F32}, {"float64", TD_F64}, {"double", TD_F64}, {"float16", TD_F16},
    {"half", TD_F16}, {"bfloat16", TD_BF16}, {"int64", TD_I64}, {"long", TD_I64}, {"int32", TD_I32},
    {"int", TD_I32}, {"int16", TD_I16}, {"short", TD_I16}, {"int8", TD_I8}, {"uint8", TD_U8},
    {"bool", TD_BOOL}, {"uint16", TD_U16}, {"uint32", TD_U32}, {"uint64", TD_U64},
};

static int push_global(pk_vm *vm, const char *mod, size_t mod_len, const char *name, size_t name_len) {
    pk_obj *o = new_obj(vm, PK_GLOBAL);
    if (!o) return SONO_E_NOMEM;
    o->u.s.p = name;
    o->u.s.len = name_len;
    o->gkind = G_OTHER;
    if (str_is(mod, mod_len, "collections") && str_is(name, name_len, "OrderedDict")) o->gkind = G_ORDERED_DICT;
    else if ((str_is(mod, mod_len, "builtins") || str_is(mod, mod_len, "__builtin__")) && str_is(name, name_len, "dict"))
        o->gkind = G_DICT;
    else if (str_is(mod, mod_len, "torch._utils")) {
        if (str_is(name, name_len, "_rebuild_tensor_v2")) o->gkind = G_REBUILD_V2;
        else if (str_is(name, name_len, "_rebuild_tensor_v3")) o->gkind = G_REBUILD_V3;
        else if (str_is(name, name_len, "_rebuild_parameter") || str_is(name, name_len, "_rebuild_parameter_with_state"))
            o->gkind = G_REBUILD_PARAM;
    } else if (str_is(mod, mod_len, "torch") || str_is(mod, mod_len, "torch.storage")) {
        const char *nm = name;
        size_t nl = name_len;
        if (nl > 0 && nm[0] == '_') nm++, nl--; /* torch 1.11-1.12 spelled _UntypedStorage, _TypedStorage */
        if (nl > 7 && !memcmp(nm + nl - 7, "Storage", 7)) {
            o->gkind = G_STORAGE;
            o->dtype = -1; /* complex, quantized, TypedStorage without a dtype */
            for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0]; i++)
                if (str_is(nm, nl, storage_types[i].name)) o->dtype = (int8_t)storage_types[i].dtype;
        } else {
            for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++)
                if (str_is(name, name_len, dtype_names[i].name)) {
                    o->gkind = G_DTYPE;
                    o->dtype = (int8_t)dtype_names[i].dtype;
                }
        }
    }
    return push(vm, o);
}

/* GLOBAL: "module\nname\n" */
static int op_global(pk_vm *vm) {
    const char *s[2];
    size_t len[2];
    for (int k = 0; k < 2; k++) {
        const uint8_t *nl = memchr(vm->p + vm->pos, '\n', vm->n - vm->pos);
        if (!nl) return sn_fail(SONO_E_TRUNCATED, "pickle: GLOBAL runs past the end");
        s[k] = (const char *)vm->p + vm->pos;
        len[k] = (size_t)(nl - (vm->p + vm->pos));
        vm->pos += len[k] + 1;
    }
    return push_global(vm, s[0], len[0], s[1], len[1]);
}

/* ---- calls ---- */

static int is_int(const pk_obj *o) { return o->type == PK_INT || o->type == PK_BOOL; }

/* BINPERSID: ('storage', storage_type, key, location, numel) */
static int op_persid(pk_vm *vm) {
    pk_obj *pid = NULL;
    int rc = pop(vm, &pid);
    if (rc < 0) return rc;
    if (pid->type == PK_TUPLE && pid->u.seq.n >= 1 && pid->u.seq.v[0]->type == PK_STR &&
        !str_is(pid->u.seq.v[0]->u.s.p, pid->u.seq.v[0]->u.s.len, "storage"))
        return sn_fail(SONO_E_UNSUPPORTED, "pickle: persistent id of kind '%.*s'",
                         (int)SONO_MIN(pid->u.seq.v[0]->u.s.len, 64), pid->u.seq.v[0]->u.s.p);
    pk_obj **a = pid->type == PK_TUPLE ? pid->u.seq.v : NULL;
    if (!a || pid->u.seq.n != 5 || a[1]->type != PK_GLOBAL || a[1]->gkind != G_STORAGE || a[2]->type != PK_STR ||
        !is_int(a[4]) || a[4]->u.i < 0)
        return sn_fail(SONO_E_FORMAT, "pickle: bad storage persistent id at offset %zu", vm->pos);
    GROW(rc, vm->storages, vm->storages_cap, vm->n_storages + 1, MAX_OBJS, "storages");
    if (rc < 0) return rc;
    pk_storage *s = &vm->storages[vm->n_storages];
    s->key = a[2]->u.s.p;
    s->key_len = a[2]->u.s.len;
    s->type_name = a[1]->u.s.p;
    s->type_len = a[1]->u.s.len;
    s->dtype = a[1]->dtype;
    s->numel = (uint64_t)a[4]->u.i;
    pk_obj *o = new_obj(vm, PK_STORAGE);
    if (o) o->u.i = (int64_t)vm->n_storages++;
    return push(vm, o);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
 * _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata]) */
static int make_tensor(pk_vm *vm, pk_obj *args, int v3, pk_obj **out) {
    size_t na = args->u.seq.n;
    pk_obj **a = args->u.seq.v;
    if (na < (v3 ? 7u : 6u) || na > (v3 ? 8u : 7u) || a[0]->type != PK_STORAGE || !is_int(a[1]) ||
        (a[2]->type != PK_TUPLE && a[2]->type != PK_LIST) || (a[3]->type != PK_TUPLE && a[3]->type != PK_LIST) ||
        (v3 && (a[6]->type != PK_GLOBAL || a[6]->gkind != G_DTYPE)))
        return sn_fail(SONO_E_FORMAT, "pickle: bad arguments to _rebuild_tensor at offset %zu", vm->pos);
    size_t nd = a[2]->u.seq.n;
    if (a[3]->u.seq.n != nd) return sn_fail(SONO_E_FORMAT, "pickle: tensor size and stride differ in length");
    if (nd > SONO_MAX_DIMS) return sn_fail(SONO_E_UNSUPPORTED, "pickle: tensor with %zu dims (at most %d)", nd, SONO_MAX_DIMS);
    if (a[1]->u.i < 0) return sn_fail(SONO_E_FORMAT, "pickle: negative storage offset");
    int rc;
    GROW(rc, vm->tensors, vm->tensors_cap, vm->n_tensors + 1, MAX_OBJS, "tensors");
    if (rc < 0) return rc;
    pk_tensor *t = &vm->tensors[vm->n_tensors];
    memset(t, 0, sizeof *t);
    t->storage = (size_t)a[0]->u.i;
    t->dtype = v3 ? a[6]->dtype : vm->storages[t->storage].dtype;
    t->ndim = (int)nd;
    t->offset = (uint64_t)a[1]->u.i;
    /* numel and span stay below 2^62: no later product or sum can overflow */
    const uint64_t big = (uint64_t)1 << 62;
    uint64_t numel = 1, last = 0;
    for (size_t d = 0; d < nd; d++) {
        pk_obj *s = a[2]->u.seq.v[d], *st = a[3]->u.seq.v[d];
        if (!is_int(s) || !is_int(st) || s->u.i < 0 || st->u.i < 0)
            return sn_fail(SONO_E_FORMAT, "pickle: bad tensor size or stride");
        uint64_t sz = (uint64_t)s->u.i, str = (uint64_t)st->u.i;
        if (sz >= big || str >= big || (sz && numel > big / sz))
            return sn_fail(SONO_E_LIMIT, "pickle: tensor size or stride too large");
        numel *= sz;
        t->shape[d] = (int64_t)sz;
        t->stride[d] = str;
        if (sz > 1) {
            if (str && sz - 1 > (big - last) / str) return sn_fail(SONO_E_LIMIT, "pickle: tensor view too large");
            last += (sz - 1) * str;
        }
    }
    t->numel = numel;
    t->span = numel ? last + 1 : 0;
    pk_obj *o = new_obj(vm, PK_TENSOR);
    if (!o) return SONO_E_NOMEM;
    o->u.i = (int64_t)vm->n_tensors++;
    *out = o;
    return 0;
}

static pk_obj *new_dict(pk_vm *vm) { return new_obj(vm, PK_DICT); }

/* OrderedDict(args) / dict(args): only the empty call and a sequence of pairs */
static int make_dict(pk_vm *vm, pk_obj *args, pk_obj **out) {
    pk_obj *d = new_dict(vm);
    if (!d) return SONO_E_NOMEM;
    if (args && args->type == PK_TUPLE && args->u.seq.n == 1 &&
        (args->u.seq.v[0]->type == PK_LIST || args->u.seq.v[0]->type == PK_TUPLE)) {
        pk_obj *items = args->u.seq.v[0];
        for (size_t i = 0; i < items->u.seq.n; i++) {
            pk_obj *pair = items->u.seq.v[i];
            if (pair->type != PK_TUPLE || pair->u.seq.n != 2) return sn_fail(SONO_E_FORMAT, "pickle: dict item is not a pair");
            int rc;
            if ((rc = seq_push(vm, d, pair->u.seq.v[0])) < 0 || (rc = seq_push(vm, d, pair->u.seq.v[1])) < 0) return rc;
        }
    }
    *out = d;
    return 0;
}

static int op_reduce(pk_vm *vm) {
    pk_obj *args = NULL, *fn = NULL, *res = NULL;
    int rc;
    if ((rc = pop(vm, &args)) < 0 || (rc = pop(vm, &fn)) < 0) return rc;
    if (args->type != PK_TUPLE) return sn_fail(SONO_E_FORMAT, "pickle: REDUCE arguments are a %s, not a tuple", type_names[args->type]);
    int kind = fn->type == PK_GLOBAL ? fn->gkind : G_OTHER;
    switch (kind) {
    case G_ORDERED_DICT:
    case G_DICT: rc = make_dict(vm, args, &res); break;
    case G_REBUILD_V2: rc = make_tensor(vm, args, 0, &res); break;
    case G_REBUILD_V3: rc = make_tensor(vm, args, 1, &res); break;
    case G_REBUILD_PARAM:
        if (args->u.seq.n < 1) return sn_fail(SONO_E_FORMAT, "pickle: _rebuild_parameter without arguments");
        res = args->u.seq.v[0];
        break;
    default:
        res = new_obj(vm, PK_OBJECT);
        rc = res ? 0 : SONO_E_NOMEM;
        break;
    }
    if (rc < 0) return rc;
    return push(vm, res);
}

/* NEWOBJ / NEWOBJ_EX / OBJ: cls.__new__(cls, ...) */
static int new_instance(pk_vm *vm, pk_obj *cls) {
    int dict = cls->type == PK_GLOBAL && (cls->gkind == G_ORDERED_DICT || cls->gkind == G_DICT);
    return push(vm, new_obj(vm, dict ? PK_DICT : PK_OBJECT));
}

/* SETITEM(S) / APPEND(S) / ADDITEMS onto the object at stack[base - 1]. */
static int add_items(pk_vm *vm, size_t base, int pairs, int op) {
    if (base == frame_base(vm) || base == 0)
        return sn_fail(SONO_E_FORMAT, "pickle: opcode 0x%02x with nothing to add to at offset %zu", op, vm->pos - 1);
    pk_obj *target = vm->stack[base - 1];
    size_t k = vm->sp - base;
    int want = pairs ? PK_DICT : (op == 0x90 ? PK_SET : PK_LIST);
    if (pairs && (k & 1)) return sn_fail(SONO_E_FORMAT, "pickle: odd number of items for SETITEMS");
    if (target->type == want) {
        for (size_t i = base; i < vm->sp; i++) {
            int rc = seq_push(vm, target, vm->stack[i]);
            if (rc < 0) return rc;
        }
    } else if (target->type != PK_OBJECT) { /* opaque objects take anything */
        return sn_fail(SONO_E_FORMAT, "pickle: opcode 0x%02x on a %s at offset %zu", op, type_names[target->type], vm->pos - 1);
    }
    vm->sp = base;
    return 0;
}

/* Build a tuple/list/dict/set from the items above the topmost mark. */
static int from_mark(pk_vm *vm, int type) {
    size_t base = 0;
    int rc = pop_mark(vm, &base);
    if (rc < 0) return rc;
    if (type == PK_DICT && ((vm->sp - base) & 1)) return sn_fail(SONO_E_FORMAT, "pickle: odd number of items for DICT");
    pk_obj *o = new_obj(vm, type);
    if (!o) return SONO_E_NOMEM;
    for (size_t i = base; i < vm->sp; i++)
        if ((rc = seq_push(vm, o, vm->stack[i])) < 0) return rc;
    vm->sp = base;
    return push(vm, o);
}

static int small_tuple(pk_vm *vm, size_t k) {
    if (vm->sp - frame_base(vm) < k) return sn_fail(SONO_E_FORMAT, "pickle: stack underflow at offset %zu", vm->pos - 1);
    pk_obj *o = new_obj(vm, PK_TUPLE);
    if (!o) return SONO_E_NOMEM;
    for (size_t i = vm->sp - k; i < vm->sp; i++) {
        int rc = seq_push(vm, o, vm->stack[i]);
        if (rc < 0) return rc;
    }
    vm->sp -= k;
    return push(vm, o);
}

/* ---- the VM ---- */

static int run(pk_vm *vm, pk_obj **result) {
    int rc = 0;
    while (vm->pos < vm->n) {
        int op = vm->p[vm->pos++];
        pk_obj *a = NULL, *b = NULL, *c = NULL;
        size_t base = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if ((rc = need(vm, 1)) < 0) return rc;
            if (vm->p[vm->pos] > 5) return sn_fail(SONO_E_UNSUPPORTED, "pickle: protocol %d", vm->p[vm->pos]);
            vm->pos++;
            break;
        case 0x95: /* FRAME: a length hint only */
            if ((rc = need(vm, 8)) < 0) return rc;
            vm->pos += 8;
            break;
        case '.': /* STOP */
            return pop(vm, result);
        case '(': /* MARK */
            GROW(rc, vm->marks, vm->marks_cap, vm->n_marks + 1, MAX_MARKS, "marks");
            if (rc < 0) return rc;
            vm->marks[vm->n_marks++] = vm->sp;
            break;
        case '0': /* POP: the top item, or the mark when the frame is empty */
            if (vm->sp > frame_base(vm)) vm->sp--;
            else if ((rc = pop_mark(vm, &base)) < 0) return rc;
            break;
        case '1': /* POP_MARK */
            if ((rc = pop_mark(vm, &base)) < 0) return rc;
            vm->sp = base;
            break;
        case '2': /* DUP */
            if ((rc = top(vm, &a)) < 0 || (rc = push(vm, a)) < 0) return rc;
            break;
        case 'N': rc = push(vm, vm->none); break;
        case 0x88: rc = push(vm, vm->yes); break;  /* NEWTRUE */
        case 0x89: rc = push(vm, vm->no); break;   /* NEWFALSE */
        case 'J': /* BININT */
            if ((rc = need(vm, 4)) < 0) return rc;
            rc = push_int(vm, (int32_t)(uint32_t)rd_le(vm->p + vm->pos, 4));
            vm->pos += 4;
            break;
        case 'K': /* BININT1 */
            if ((rc = need(vm, 1)) < 0) return rc;
            rc = push_int(vm, vm->p[vm->pos++]);
            break;
        case 'M': /* BININT2 */
            if ((rc = need(vm, 2)) < 0) return rc;
            rc = push_int(vm, (int64_t)rd_le(vm->p + vm->pos, 2));
            vm->pos += 2;
            break;
        case 0x8a: /* LONG1 */
        case 0x8b: { /* LONG4 */
            int lb = op == 0x8a ? 1 : 4;
            if ((rc = need(vm, (size_t)lb)) < 0) return rc;
            uint64_t len = rd_le(vm->p + vm->pos, lb);
            vm->pos += (size_t)lb;
            if (lb == 4 && len >= 0x80000000u) return sn_fail(SONO_E_FORMAT, "pickle: negative LONG4 length");
            if ((rc = need(vm, (size_t)len)) < 0) return rc;
            if (len > 8) { /* beyond int64: kept as an opaque number */
                vm->pos += (size_t)len;
                rc = push(vm, new_obj(vm, PK_BIGINT));
                break;
            }
            uint64_t v = len ? rd_le(vm->p + vm->pos, (int)len) : 0;
            if (len && len < 8 && (v >> (8 * len - 1)) & 1) v |= ~(uint64_t)0 << (8 * len); /* sign-extend */
            vm->pos += (size_t)len;
            rc = push_int(vm, (int64_t)v);
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            if ((rc = need(vm, 8)) < 0) return rc;
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++) bits = bits << 8 | vm->p[vm->pos + (size_t)i];
            vm->pos += 8;
            pk_obj *o = new_obj(vm, PK_FLOAT);
            if (o) memcpy(&o->u.f, &bits, 8);
            rc = push(vm, o);
            break;
        }
        case 'X': rc = push_str(vm, PK_STR, 4); break;    /* BINUNICODE */
        case 0x8c: rc = push_str(vm, PK_STR, 1); break;   /* SHORT_BINUNICODE */
        case 0x8d: rc = push_str(vm, PK_STR, 8); break;   /* BINUNICODE8 */
        case 'T': /* BINSTRING: signed 4-byte length */
            if ((rc = need(vm, 4)) < 0) return rc;
            if (vm->p[vm->pos + 3] & 0x80) return sn_fail(SONO_E_FORMAT, "pickle: negative BINSTRING length");
            rc = push_str(vm, PK_STR, 4);
            break;
        case 'U': rc = push_str(vm, PK_STR, 1); break;    /* SHORT_BINSTRING */
        case 'B': rc = push_str(vm, PK_BYTES, 4); break;  /* BINBYTES */
        case 'C': rc = push_str(vm, PK_BYTES, 1); break;  /* SHORT_BINBYTES */
        case 0x8e:                                        /* BINBYTES8 */
        case 0x96: rc = push_str(vm, PK_BYTES, 8); break; /* BYTEARRAY8 */
        case 0x98: /* READONLY_BUFFER: no-op on the top object */
            rc = top(vm, &a);
            break;
        case ')': rc = push(vm, new_obj(vm, PK_TUPLE)); break; /* EMPTY_TUPLE */
        case ']': rc = push(vm, new_obj(vm, PK_LIST)); break;  /* EMPTY_LIST */
        case '}': rc = push(vm, new_dict(vm)); break;          /* EMPTY_DICT */
        case 0x8f: rc = push(vm, new_obj(vm, PK_SET)); break;  /* EMPTY_SET */
        case 't': rc = from_mark(vm, PK_TUPLE); break;
        case 'l': rc = from_mark(vm, PK_LIST); break;
        case 'd': rc = from_mark(vm, PK_DICT); break;
        case 0x91: rc = from_mark(vm, PK_SET); break;          /* FROZENSET */
        case 0x85: rc = small_tuple(vm, 1); break;
        case 0x86: rc = small_tuple(vm, 2); break;
        case 0x87: rc = small_tuple(vm, 3); break;
        case 'a': /* APPEND */
            if (vm->sp - frame_base(vm) < 2) return sn_fail(SONO_E_FORMAT, "pickle: APPEND with a short stack");
            rc = add_items(vm, vm->sp - 1, 0, op);
            break;
        case 's': /* SETITEM */
            if (vm->sp - frame_base(vm) < 3) return sn_fail(SONO_E_FORMAT, "pickle: SETITEM with a short stack");
            rc = add_items(vm, vm->sp - 2, 1, op);
            break;
        case 'e':  /* APPENDS */
        case 'u':  /* SETITEMS */
        case 0x90: /* ADDITEMS */
            if ((rc = pop_mark(vm, &base)) < 0) return rc;
            rc = add_items(vm, base, op == 'u', op);
            break;
        case 'q': /* BINPUT */
            if ((rc = need(vm, 1)) < 0) return rc;
            rc = memo_put(vm, vm->p[vm->pos++]);
            break;
        case 'r': /* LONG_BINPUT */
            if ((rc = need(vm, 4)) < 0) return rc;
            rc = memo_put(vm, rd_le(vm->p + vm->pos, 4));
            vm->pos += 4;
            break;
        case 0x94: rc = memo_put(vm, vm->memo_count); break; /* MEMOIZE */
        case 'h': /* BINGET */
            if ((rc = need(vm, 1)) < 0) return rc;
            rc = memo_get(vm, vm->p[vm->pos++]);
            break;
        case 'j': /* LONG_BINGET */
            if ((rc = need(vm, 4)) < 0) return rc;
            rc = memo_get(vm, rd_le(vm->p + vm->pos, 4));
            vm->pos += 4;
            break;
        case 'c': rc = op_global(vm); break;
        case 0x93: /* STACK_GLOBAL */
            if ((rc = pop(vm, &b)) < 0 || (rc = pop(vm, &a)) < 0) return rc;
            if (a->type != PK_STR || b->type != PK_STR) return sn_fail(SONO_E_FORMAT, "pickle: STACK_GLOBAL needs two strings");
            rc = push_global(vm, a->u.s.p, a->u.s.len, b->u.s.p, b->u.s.len);
            break;
        case 'Q': rc = op_persid(vm); break; /* BINPERSID */
        case 'R': rc = op_reduce(vm); break; /* REDUCE */
        case 'b': /* BUILD: object state (OrderedDict._metadata and the like) is not needed */
            if ((rc = pop(vm, &a)) < 0 || (rc = top(vm, &b)) < 0) return rc;
            break;
        case 0x81: /* NEWOBJ: cls, args */
            if ((rc = pop(vm, &b)) < 0 || (rc = pop(vm, &a)) < 0) return rc;
            rc = new_instance(vm, a);
            break;
        case 0x92: /* NEWOBJ_EX: cls, args, kwargs */
            if ((rc = pop(vm, &c)) < 0 || (rc = pop(vm, &b)) < 0 || (rc = pop(vm, &a)) < 0) return rc;
            rc = new_instance(vm, a);
            break;
        case 'o': /* OBJ: MARK cls args... */
            if ((rc = pop_mark(vm, &base)) < 0) return rc;
            if (vm->sp == base) return sn_fail(SONO_E_FORMAT, "pickle: OBJ without a class");
            a = vm->stack[base];
            vm->sp = base;
            rc = new_instance(vm, a);
            break;
        case 'I': case 'L': case 'F': case 'S': case 'V': case 'P': case 'g': case 'p': case 'i':
        case 0x82: case 0x83: case 0x84: case 0x97:
            return sn_fail(SONO_E_UNSUPPORTED, "pickle: opcode '%c' (0x%02x) at offset %zu is not supported "
                             "(torch.save writes protocol 2)", op >= 32 && op < 127 ? op : '?', op, vm->pos - 1);
        default:
            return sn_fail(SONO_E_FORMAT, "pickle: unknown opcode 0x%02x at offset %zu", op, vm->pos - 1);
        }
        if (rc < 0) return rc;
    }
    return sn_fail(SONO_E_TRUNCATED, "pickle: no STOP opcode");
}

/* ---- picking the state_dict ---- */

static int has_tensor(const pk_obj *d) {
    for (size_t i = 0; i + 1 < d->u.seq.n; i += 2)
        if (d->u.seq.v[i]->type == PK_STR && d->u.seq.v[i + 1]->type == PK_TENSOR) return 1;
    return 0;
}

/* Breadth-first from the top dict: the first dict with a tensor value wins;
 * the usual wrapper keys are tried before the other values of each dict. */
static int find_state_dict(pk_vm *vm, pk_obj *root, pk_obj **found) {
    static const char *const preferred[] = {"state_dict", "model_state_dict", "model", "best_state", "state",
                                            "module", "net", "generator", "ema", "weights", "params"};
    pk_obj **q = NULL;
    int *depth = NULL;
    size_t qn = 0, qcap = 0, dcap = 0;
    int rc = 0;
    *found = NULL;
    GROW(rc, q, qcap, 1, MAX_OBJS, "dicts");
    if (rc < 0) goto done;
    GROW(rc, depth, dcap, 1, MAX_OBJS, "dicts");
    if (rc < 0) goto done;
    q[qn] = root;
    depth[qn++] = 0;
    root->visited = 1;
    for (size_t qi = 0; qi < qn; qi++) {
        pk_obj *d = q[qi];
        if (has_tensor(d)) {
            *found = d;
            break;
        }
        if (depth[qi] >= MAX_DEPTH) continue;
        for (size_t pass = 0; pass <= sizeof preferred / sizeof preferred[0]; pass++)
            for (size_t i = 0; i + 1 < d->u.seq.n; i += 2) {
                pk_obj *k = d->u.seq.v[i], *v = d->u.seq.v[i + 1];
                if (v->type != PK_DICT || v->visited) continue;
                if (pass < sizeof preferred / sizeof preferred[0] &&
                    (k->type != PK_STR || !str_is(k->u.s.p, k->u.s.len, preferred[pass])))
                    continue;
                GROW(rc, q, qcap, qn + 1, MAX_OBJS, "dicts");
                if (rc < 0) goto done;
                GROW(rc, depth, dcap, qn + 1, MAX_OBJS, "dicts");
                if (rc < 0) goto done;
                v->visited = 1;
                q[qn] = v;
                depth[qn++] = depth[qi] + 1;
            }
    }
done:
    free(q);
    free(depth);
    return rc;
}

typedef struct {
    const char *name;
    size_t len;
    pk_obj *val;
    size_t pos;
} sd_item;

static int item_by_name(const void *x, const void *y) {
    const sd_item *a = x, *b = y;
    int c = memcmp(a->name, b->name, SONO_MIN(a->len, b->len));
    if (c) return c;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int item_by_pos(const void *x, const void *y) {
    const sd_item *a = x, *b = y;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* The dict's tensors in insertion order, with Python's rule for a repeated
 * key (first position, last value). Returns the count in *n_out. */
static int collect_tensors(const pk_obj *d, sd_item **out, size_t *n_out) {
    size_t n = 0, m = 0;
    sd_item *it = malloc((d->u.seq.n / 2 + 1) * sizeof *it);
    if (!it) return sn_fail(SONO_E_NOMEM, "th: out of memory");
    for (size_t i = 0; i + 1 < d->u.seq.n; i += 2) {
        pk_obj *k = d->u.seq.v[i];
        if (k->type != PK_STR) continue;
        it[n++] = (sd_item){k->u.s.p, k->u.s.len, d->u.seq.v[i + 1], i / 2};
    }
    qsort(it, n, sizeof *it, item_by_name);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && it[j + 1].len == it[i].len && !memcmp(it[j + 1].name, it[i].name, it[i].len)) j++;
        if (it[j].val->type == PK_TENSOR) {
            it[m] = it[i];
            it[m++].val = it[j].val;
        }
        i = j + 1;
    }
    qsort(it, m, sizeof *it, item_by_pos);
    *out = it;
    *n_out = m;
    return 0;
}

/* ---- loading ---- */

static int is_contiguous(const pk_tensor *t) {
    uint64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] == 1) continue;
        if (t->stride[d] != expect) return 0;
        expect *= (uint64_t)t->shape[d];
    }
    return 1;
}

/* Copy a (possibly strided) view into dst, row-major. */
static void gather(float *dst, const uint8_t *base, const pk_tensor *t) {
    size_t esz = sn_tdtype_size(t->dtype);
    if (!t->numel) return;
    if (is_contiguous(t)) {
        sn_tdtype_convert(dst, base, t->dtype, (size_t)t->numel, 1);
        return;
    }
    int nd = t->ndim; /* >= 1: a 0-d tensor is contiguous */
    size_t inner = (size_t)t->shape[nd - 1], outer = (size_t)(t->numel / (uint64_t)inner), off = 0;
    int64_t idx[SONO_MAX_DIMS] = {0};
    for (size_t o = 0; o < outer; o++) {
        sn_tdtype_convert(dst, base + off * esz, t->dtype, inner, (size_t)t->stride[nd - 1]);
        dst += inner;
        for (int d = nd - 2; d >= 0; d--) {
            off += (size_t)t->stride[d];
            if (++idx[d] < t->shape[d]) break;
            off -= (size_t)t->stride[d] * (size_t)t->shape[d];
            idx[d] = 0;
        }
    }
}

int sn_th_load_mem_ex(const uint8_t *buf, size_t n, sono_tensors **out, const th_load_opts *opts) {
    if (!out) return sn_fail(SONO_E_ARG, "th_load: out is NULL");
    *out = NULL;
    if (!buf && n) return sn_fail(SONO_E_ARG, "th_load: NULL buffer");
    th_load_opts o = opts ? *opts : (th_load_opts){0};
    if (n == 0) return sn_fail(SONO_E_TRUNCATED, "th: empty file");
    if (buf[0] == 0x80) return sn_fail(SONO_E_UNSUPPORTED, "legacy torch format; re-save with torch>=1.6");

    zip_archive z;
    int rc = sn_zip_open(&z, buf, n);
    if (rc < 0) return rc;

    pk_vm vm;
    memset(&vm, 0, sizeof vm);
    sd_item *items = NULL;
    const uint8_t **src = NULL; /* first element of each view */
    char *ename = NULL;
    size_t n_items = 0, ename_cap = 0;
    sono_tensors *ts = NULL;

    /* <archive>/data.pkl, where <archive> is one path component */
    const char *prefix = NULL;
    size_t prefix_len = 0;
    zip_entry *pkl = NULL;
    for (size_t i = 0; i < z.n_entries && !pkl; i++) {
        zip_entry *e = &z.e[i];
        if (e->name_len > 9 && !memcmp(e->name + e->name_len - 9, "/data.pkl", 9) &&
            !memchr(e->name, '/', e->name_len - 9)) {
            pkl = e;
            prefix = e->name;
            prefix_len = e->name_len - 9;
        }
    }
    if (!pkl) {
        rc = sn_fail(SONO_E_FORMAT, "th: zip has no <archive>/data.pkl (not a PyTorch checkpoint)");
        goto out;
    }
    GROW(rc, ename, ename_cap, prefix_len + 16, SIZE_MAX, "name bytes");
    if (rc < 0) goto out;
    memcpy(ename, prefix, prefix_len);
    memcpy(ename + prefix_len, "/byteorder", 10);
    zip_entry *bo = sn_zip_find(&z, ename, prefix_len + 10);
    if (bo) {
        const uint8_t *p;
        size_t len;
        if ((rc = sn_zip_data(&z, bo, !o.skip_crc, &p, &len)) < 0) goto out;
        if (len != 6 || memcmp(p, "little", 6)) {
            rc = sn_fail(SONO_E_UNSUPPORTED, "th: checkpoint byte order is '%.*s', only little-endian is supported",
                           (int)SONO_MIN(len, 16), (const char *)p);
            goto out;
        }
    }

    const uint8_t *pk;
    size_t pk_len;
    if ((rc = sn_zip_data(&z, pkl, !o.skip_crc, &pk, &pk_len)) < 0) goto out;
    vm.p = pk;
    vm.n = pk_len;
    if (!(vm.none = new_obj(&vm, PK_NONE)) || !(vm.yes = new_obj(&vm, PK_BOOL)) || !(vm.no = new_obj(&vm, PK_BOOL))) {
        rc = SONO_E_NOMEM;
        goto out;
    }
    vm.yes->u.i = 1;
    pk_obj *root = NULL;
    if ((rc = run(&vm, &root)) < 0) {
        sn_error_prefix("th: data.pkl");
        goto out;
    }
    if (root->type != PK_DICT) {
        rc = sn_fail(SONO_E_UNSUPPORTED, "th: checkpoint holds a %s, not a state_dict", type_names[root->type]);
        goto out;
    }
    pk_obj *sd = NULL;
    if ((rc = find_state_dict(&vm, root, &sd)) < 0) goto out;
    if (!sd) {
        rc = sn_fail(SONO_E_EMPTY, "th: no dict of tensors in the checkpoint");
        goto out;
    }
    if ((rc = collect_tensors(sd, &items, &n_items)) < 0) goto out;

    /* check every view against its storage and every storage against its entry */
    src = calloc(n_items + 1, sizeof *src);
    if (!src) {
        rc = sn_fail(SONO_E_NOMEM, "th: out of memory");
        goto out;
    }
    tset_sizes sz = {.limit = o.max_alloc};
    for (size_t i = 0; i < n_items; i++) {
        const pk_tensor *t = &vm.tensors[items[i].val->u.i];
        const pk_storage *s = &vm.storages[t->storage];
        int nl = (int)SONO_MIN(items[i].len, 200);
        if (memchr(items[i].name, 0, items[i].len)) {
            rc = sn_fail(SONO_E_FORMAT, "th: tensor name with a NUL byte");
            goto out;
        }
        if (t->dtype < 0 || s->dtype < 0) {
            rc = sn_fail(SONO_E_UNSUPPORTED, "th: tensor '%.*s' has storage type %.*s, which is not supported", nl,
                           items[i].name, (int)SONO_MIN(s->type_len, 64), s->type_name);
            goto out;
        }
        GROW(rc, ename, ename_cap, prefix_len + 6 + s->key_len, SIZE_MAX, "name bytes");
        if (rc < 0) goto out;
        memcpy(ename + prefix_len, "/data/", 6);
        memcpy(ename + prefix_len + 6, s->key, s->key_len);
        zip_entry *e = sn_zip_find(&z, ename, prefix_len + 6 + s->key_len);
        if (!e) {
            rc = sn_fail(SONO_E_FORMAT, "th: tensor '%.*s': storage '%.*s' is missing from the zip", nl, items[i].name,
                           (int)SONO_MIN(s->key_len, 64), s->key);
            goto out;
        }
        const uint8_t *p;
        size_t len;
        if ((rc = sn_zip_data(&z, e, !o.skip_crc, &p, &len)) < 0) goto out;
        size_t esz = sn_tdtype_size(t->dtype), ssz = sn_tdtype_size(s->dtype);
        /* storage numel < 2^62 and element sizes <= 8 would still overflow; check by division */
        if (s->numel > len / ssz) {
            rc = sn_fail(SONO_E_FORMAT, "th: storage '%.*s' holds %llu %s elements but its entry has %zu bytes",
                           (int)SONO_MIN(s->key_len, 64), s->key, (unsigned long long)s->numel, sn_tdtype_name(s->dtype), len);
            goto out;
        }
        uint64_t sbytes = s->numel * ssz;
        if (t->numel && (t->offset > sbytes / esz || t->span > sbytes / esz - t->offset)) {
            rc = sn_fail(SONO_E_FORMAT, "th: tensor '%.*s' reaches past its storage '%.*s'", nl, items[i].name,
                           (int)SONO_MIN(s->key_len, 64), s->key);
            goto out;
        }
        src[i] = p + (t->numel ? t->offset * esz : 0);
        if ((rc = sn_tset_count(&sz, items[i].len, t->numel)) < 0) goto out;
    }
    if ((rc = sn_tset_alloc(&ts, &sz)) < 0) goto out;
    for (size_t i = 0; i < n_items; i++) {
        const pk_tensor *t = &vm.tensors[items[i].val->u.i];
        float *dst = sn_tset_add(ts, items[i].name, items[i].len, t->ndim, t->shape);
        if (!dst) {
            rc = sn_fail(SONO_E_FORMAT, "th: internal size mismatch");
            goto out;
        }
        gather(dst, src[i], t);
    }
    *out = ts;
    ts = NULL;
    rc = 0;
out:
    sn_tensors_free(ts);
    free(src);
    free(items);
    free(ename);
    vm_free(&vm);
    sn_zip_close(&z);
    return rc;
}

int sn_th_load_mem(const uint8_t *buf, size_t n, sono_tensors **out) { return sn_th_load_mem_ex(buf, n, out, NULL); }

int sn_th_load(const char *path, sono_tensors **out) {
    if (!path || !out) return sn_fail(SONO_E_ARG, "th_load: NULL argument");
    *out = NULL;
    const uint8_t *buf;
    size_t n;
    int mapped;
    int rc = sn_map_file(path, SONO_MAX_ALLOC, &buf, &n, &mapped);
    if (rc < 0) return rc;
    rc = sn_th_load_mem_ex(buf, n, out, NULL);
    sn_unmap_file(buf, n, mapped);
    if (rc < 0) sn_error_prefix("%s", path);
    return rc;
}
