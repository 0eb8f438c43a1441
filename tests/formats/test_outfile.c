/* The output writer (common/outfile.c, include/sonotok/output.h), in a
 * temporary folder:
 *
 * 1. A new or regular file: complete content, no temporary left, an existing
 *    file's permission bits kept; until the rename the old content reads.
 * 2. Symbolic links (relative, absolute, chained, dangling) are written
 *    through: the link stays a link, its target gets the output.
 * 3. Devices stay devices: null takes any output (plain and seeking), full
 *    reports the write error (as root on nodes of our own, else /dev/null and
 *    /dev/full); a FIFO's reader gets the bytes, also
 *    from a seeking writer (built in a scratch file and copied).
 * 4. Protected inputs are refused, also through a symbolic or hard link and
 *    as standard output, and stay unchanged.
 * 5. Abort, failures and sono_output_remove_temporaries() leave no file. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sonotok/output.h"
#include "outfile.h"
#include "test_util.h"

static char g_dir[256];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

static int count_files(void) { return tu_count_files(g_dir); }

/* The whole file as a string (NULL when it cannot be read); caller frees. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = calloc(1, 1 << 16);
    size_t n = b ? fread(b, 1, (1 << 16) - 1, f) : 0;
    (void)n;
    fclose(f);
    return b;
}

static int holds(const char *path, const char *want) {
    char *b = slurp(path);
    int ok = b && !strcmp(b, want);
    free(b);
    return ok;
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int save(const char *path, const char *text) { return sono_output_save(path, text, strlen(text)); }

static char g_hook_target[512];
static int g_hook_calls, g_hook_ok;

/* At the moment before the rename: the temporary is complete, the target old. */
static void check_before_rename(const char *tmp) {
    g_hook_calls++;
    g_hook_ok = holds(tmp, "new content") && holds(g_hook_target, "old content") && strstr(tmp, ".sonotok-");
}

static void test_regular(void) {
    char p[512];
    path_in(p, sizeof p, "a.txt");
    int base = count_files();
    mode_t old = umask(022);
    CHECK(save(p, "hello") == 0);
    struct stat st;
    CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644);
    umask(old);
    CHECK(holds(p, "hello"));
    CHECK(count_files() == base + 1);

    /* replacing keeps the permission bits; before the rename the old content reads */
    put(p, "old content");
    CHECK(chmod(p, 0600) == 0);
    snprintf(g_hook_target, sizeof g_hook_target, "%s", p);
    sn_outfile_test_hook = check_before_rename;
    CHECK(save(p, "new content") == 0);
    sn_outfile_test_hook = NULL;
    CHECK(g_hook_calls == 1 && g_hook_ok);
    CHECK(holds(p, "new content"));
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(count_files() == base + 1);

    /* a stream */
    int err = 0;
    sono_output *o = sono_output_open(p, 0, &err);
    FILE *f = o ? sono_output_stream(o) : NULL;
    CHECK(f != NULL);
    if (f) fprintf(f, "%s %d", "stream", 42);
    CHECK(o && sono_output_commit(o) == 0);
    CHECK(holds(p, "stream 42"));

    /* abort leaves the old file and no temporary */
    o = sono_output_open(p, 0, &err);
    CHECK(o && sono_output_write(o, "zzz", 3) == 0);
    CHECK(count_files() == base + 2);
    sono_output_abort(o);
    CHECK(holds(p, "stream 42"));
    CHECK(count_files() == base + 1);
    sono_output_abort(NULL);
    unlink(p);

    /* a folder, a missing folder, an empty path */
    CHECK(sono_output_open(g_dir, 0, &err) == NULL && err == SONO_E_IO && strstr(sono_last_error(), "folder"));
    path_in(p, sizeof p, "no/such/x.tok");
    CHECK(sono_output_open(p, 0, &err) == NULL && err == SONO_E_IO);
    CHECK(sono_output_open("", 0, &err) == NULL && err == SONO_E_ARG);
    CHECK(count_files() == base);
}

static void test_links(void) {
    char sub[512], target[512], link[512], chain[512], abs_link[512], dangling[512], dtarget[512];
    path_in(sub, sizeof sub, "sub");
    mkdir(sub, 0777);
    path_in(target, sizeof target, "sub/target.tok");
    path_in(link, sizeof link, "link.tok");
    path_in(chain, sizeof chain, "chain.tok");
    path_in(abs_link, sizeof abs_link, "abs.tok");
    path_in(dangling, sizeof dangling, "dangling.tok");
    path_in(dtarget, sizeof dtarget, "sub/new.tok");
    int base = count_files();
    put(target, "old");
    CHECK(symlink("sub/target.tok", link) == 0);      /* relative to the link's folder */
    CHECK(symlink("link.tok", chain) == 0);
    CHECK(symlink(target, abs_link) == 0);
    CHECK(symlink("sub/new.tok", dangling) == 0);
    const char *links[] = {link, chain, abs_link};
    const char *texts[] = {"through a link", "through two links", "through an absolute link"};
    for (int i = 0; i < 3; i++) {
        CHECK(save(links[i], texts[i]) == 0);
        struct stat st;
        CHECK_MSG(lstat(links[i], &st) == 0 && S_ISLNK(st.st_mode), "%s is no longer a link", links[i]);
        CHECK_MSG(holds(target, texts[i]), "%s: the target does not hold the output", links[i]);
    }
    CHECK(save(dangling, "created") == 0);
    struct stat st;
    CHECK(lstat(dangling, &st) == 0 && S_ISLNK(st.st_mode) && holds(dtarget, "created"));
    CHECK(tu_count_files(sub) == 2);  /* target.tok, new.tok: no temporary beside them */
    CHECK(count_files() == base + 4); /* the four links */
    /* a loop of links is an error, not a hang */
    char l1[512], l2[512];
    path_in(l1, sizeof l1, "loop1");
    path_in(l2, sizeof l2, "loop2");
    CHECK(symlink("loop2", l1) == 0 && symlink("loop1", l2) == 0);
    int err = 0;
    CHECK(sono_output_open(l1, 0, &err) == NULL && err == SONO_E_IO);
    unlink(l1), unlink(l2), unlink(link), unlink(chain), unlink(abs_link), unlink(dangling);
    unlink(target), unlink(dtarget), rmdir(sub);
}

/* A character device for the test: as root, a node of our own in the test
 * folder (the same device as /dev/NAME), so a broken writer cannot replace
 * the system's; else /dev/NAME itself (which a non-root writer cannot
 * replace). */
static const char *device(const char *name, unsigned minor, char *buf, size_t n) {
    path_in(buf, n, name);
    if (geteuid() == 0 && mknod(buf, S_IFCHR | 0666, makedev(1, minor)) == 0) {
        int fd = open(buf, O_WRONLY); /* fails where the folder is mounted nodev */
        if (fd >= 0) {
            close(fd);
            return buf;
        }
        unlink(buf);
    }
    snprintf(buf, n, "/dev/%s", name);
    return buf;
}

static int is_device(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

static void test_devices(void) {
    char null_buf[512], full_buf[512];
    const char *null = device("null", 3, null_buf, sizeof null_buf);
    const char *full = device("full", 7, full_buf, sizeof full_buf);
    printf("  devices: %s, %s\n", null, full);
    CHECK(save(null, "into nothing") == 0);
    CHECK(is_device(null));
    int err = 0;
    sono_output *o = sono_output_open(null, SONO_OUTPUT_SEEK, &err);
    CHECK(o != NULL);
    if (o) {
        CHECK(pwrite(sono_output_fd(o), "abc", 3, 10) == 3);
        CHECK(sono_output_commit(o) == 0);
    }
    CHECK(is_device(null));
    if (is_device(full)) {
        CHECK(save(full, "no room") == SONO_E_IO);
        o = sono_output_open(full, SONO_OUTPUT_SEEK, &err);
        CHECK(o && sono_output_write(o, "no room", 7) == 0);   /* into the scratch file */
        CHECK(o && sono_output_commit(o) == SONO_E_IO);        /* the copy fails */
        CHECK(is_device(full));
    }
    if (strncmp(null, "/dev/", 5)) unlink(null);
    if (strncmp(full, "/dev/", 5)) unlink(full);
}

/* Read the FIFO fifo into got in a child; returns its pid. */
static pid_t fifo_reader(const char *fifo, const char *got) {
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30); /* a writer that replaced the FIFO never comes */
        int in = open(fifo, O_RDONLY), out = open(got, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char b[4096];
        ssize_t n;
        while (in >= 0 && out >= 0 && (n = read(in, b, sizeof b)) > 0)
            if (write(out, b, (size_t)n) != n) _exit(1);
        _exit(in >= 0 && out >= 0 ? 0 : 1);
    }
    return pid;
}

static int reaped_ok(pid_t pid) {
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_fifo(void) {
    char fifo[512], got[512];
    path_in(fifo, sizeof fifo, "pipe");
    path_in(got, sizeof got, "got");
    int base = count_files();
    CHECK(mkfifo(fifo, 0644) == 0);
    pid_t r = fifo_reader(fifo, got);
    CHECK(save(fifo, "through the pipe") == 0);
    CHECK(reaped_ok(r));
    CHECK(holds(got, "through the pipe"));
    /* a seeking writer: built in a scratch file, copied at commit */
    r = fifo_reader(fifo, got);
    int err = 0;
    sono_output *o = sono_output_open(fifo, SONO_OUTPUT_SEEK, &err);
    CHECK(o != NULL);
    if (o) {
        CHECK(sono_output_write(o, "....HELLO", 9) == 0);
        CHECK(pwrite(sono_output_fd(o), "abcd", 4, 0) == 4);
        CHECK(sono_output_commit(o) == 0);
    } else {
        kill(r, SIGKILL);
    }
    CHECK(reaped_ok(r));
    CHECK(holds(got, "abcdHELLO"));
    struct stat st;
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK(count_files() == base + 2);
    unlink(fifo), unlink(got);
}

static void test_protect(void) {
    char in[512], sym[512], hard[512], other[512];
    path_in(in, sizeof in, "in.wav");
    path_in(sym, sizeof sym, "sym.wav");
    path_in(hard, sizeof hard, "hard.wav");
    path_in(other, sizeof other, "other.wav");
    put(in, "precious input");
    CHECK(symlink("in.wav", sym) == 0 && link(in, hard) == 0);
    int err = 0;
    CHECK(sono_output_protect(other) == SONO_E_NOT_FOUND);
    CHECK(sono_output_protect("-") == 0);
    CHECK(sono_output_check(in) == 0);
    CHECK(sono_output_protect(in) == 0);
    const char *ways[] = {in, sym, hard};
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(sono_output_check(ways[i]) == SONO_E_ARG, "check %s", ways[i]);
        CHECK(strstr(sono_last_error(), "in.wav") != NULL);
        CHECK_MSG(sono_output_open(ways[i], 0, &err) == NULL && err == SONO_E_ARG, "open %s", ways[i]);
        CHECK(save(ways[i], "overwritten") == SONO_E_ARG);
        CHECK(holds(in, "precious input"));
    }
    struct stat st;
    CHECK(lstat(sym, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(sono_output_check(other) == 0 && save(other, "fine") == 0);
    /* standard output redirected onto the input */
    fflush(stdout);
    int keep = dup(STDOUT_FILENO), fd = open(in, O_WRONLY | O_APPEND);
    CHECK(keep >= 0 && fd >= 0 && dup2(fd, STDOUT_FILENO) == STDOUT_FILENO);
    int rc_check = sono_output_check("-"), rc_save = save("-", "appended");
    dup2(keep, STDOUT_FILENO);
    close(keep), close(fd);
    CHECK(rc_check == SONO_E_ARG && rc_save == SONO_E_ARG);
    CHECK(holds(in, "precious input"));
    /* standard output elsewhere is written directly */
    fd = open(other, O_WRONLY | O_TRUNC);
    keep = dup(STDOUT_FILENO);
    CHECK(dup2(fd, STDOUT_FILENO) == STDOUT_FILENO);
    int rc = save("-", "on stdout");
    dup2(keep, STDOUT_FILENO);
    close(keep), close(fd);
    CHECK(rc == 0 && holds(other, "on stdout"));
    unlink(in), unlink(sym), unlink(hard), unlink(other);
}

static void test_remove_temporaries(void) {
    char a[512], b[512];
    path_in(a, sizeof a, "a.sta");
    path_in(b, sizeof b, "b.wav");
    int base = count_files(), err = 0;
    sono_output *oa = sono_output_open(a, SONO_OUTPUT_SEEK, &err), *ob = sono_output_open(b, 0, &err);
    CHECK(oa && ob && count_files() == base + 2);
    sono_output_remove_temporaries();
    CHECK(count_files() == base);
    sono_output_abort(oa);
    sono_output_abort(ob);
    CHECK(count_files() == base);
    /* more than the table holds: refused, nothing left */
    sono_output *many[70];
    int n_open = 0;
    for (int i = 0; i < 70; i++) {
        many[i] = sono_output_open(a, 0, &err);
        if (many[i]) n_open++;
        else CHECK(err == SONO_E_LIMIT);
    }
    CHECK(n_open == 64);
    for (int i = 0; i < 70; i++) sono_output_abort(many[i]);
    CHECK(count_files() == base);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s/sono-test-outfile-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_regular();
    test_links();
    test_devices();
    test_fifo();
    test_remove_temporaries();
    test_protect(); /* last: a protected inode stays protected, also once reused */
    CHECK(count_files() == 0);
    rmdir(g_dir);
    return tu_finish("outfile");
}
