/* sonotok: one program, git-style subcommands. This file only dispatches:
 * each command is a row of the table below and lives in its own cmd_*.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

static const cli_cmd *const commands[] = {
    &cmd_tokenize,
    &cmd_detokenize,
    &cmd_archive_merge,
    &cmd_bench,
    &cmd_eval,
    &cmd_train_codec,
    &cmd_wer,
    &cmd_train_tokenizer,
    &cmd_tokenize_text,
    &cmd_phonemize,
    &cmd_train_lm,
    &cmd_train_coder,
    &cmd_generate,
    &cmd_train_probe,
    &cmd_probe,
};
enum { N_COMMANDS = (int)(sizeof commands / sizeof commands[0]) };

static const cli_cmd *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static void print_overview(FILE *f) {
    fprintf(f, "Usage: sonotok COMMAND [options] ...\n"
               "Neural audio tokens: turn audio into codec tokens and back.\n\nCommands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-14s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "  %-14s %s\n", "help", "show help for a command: sonotok help COMMAND");
    fprintf(f, "\nOptions: -h, --help   this help;   -V, --version   print the version\n"
               "\nModels (-m): a path (.th, .safetensors, Hugging Face folder) or a name looked up\n"
               "in $SONOTOK_MODEL_PATH, $XDG_DATA_HOME/sonotok/models, then the installed models.\n"
               "\nExit status: 0 ok, 1 usage error, 2 bad input or data (format, checksum, range,\n"
               "model mismatch, empty), 3 I/O or system error, 4 model not found or unusable.\n");
}

/* The codec's kernels are OpenMP loops, each ending in a barrier, thousands
 * per second of audio. By default libgomp makes a thread that waits spin
 * first: on a machine where anything else runs, the spinning thread takes the
 * CPU from the one it waits for. Measured on the project's 2-core VM (bench
 * -t 2, the default codec): next to a 2-thread training job, tokenize of 10 s
 * 1.4-2.5x realtime spinning, 17-23x passive; on an idle machine the two are
 * within run-to-run noise (60 s, tokenize / detokenize: 59-62x / 56-74x
 * spinning, 48-62x / 53-71x passive). libgomp reads the policy
 * from the environment once, before main (a setenv in .preinit_array is not
 * seen), so the program sets OMP_WAIT_POLICY=PASSIVE and runs itself again,
 * once, unless the user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT set,
 * even empty). If the exec fails the command simply runs as it is. */
static void omp_wait_passive(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1)) return;
    execv("/proc/self/exe", argv);
}

/* SONOTOK_CPU=plain|avx2|avx512 caps the library's SIMD kernels
 * (sono_set_cpu_level): outputs then equal those of a CPU of that level, for
 * reproducing another machine's results or telling a kernel bug from a model
 * bug. Unset or empty: the CPU's own level. Returns 0, or -1 for a value that
 * names no level. */
static int cpu_level_from_env(void) {
    const char *v = getenv("SONOTOK_CPU");
    if (!v || !*v) return 0;
    for (int l = SONO_CPU_PLAIN; l <= SONO_CPU_AVX512; l++)
        if (!strcmp(v, sono_cpu_level_name(l))) {
            sono_set_cpu_level(l);
            return 0;
        }
    fprintf(stderr, "sonotok: SONOTOK_CPU='%s' is not one of plain, avx2, avx512\n", v);
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_overview(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
        print_overview(stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_IO;
    }
    if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
        printf("sonotok %s\n", SONOTOK_VERSION);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_IO;
    }
    if (!strcmp(name, "help")) {
        if (argc < 3) {
            print_overview(stdout);
            return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_IO;
        }
        const cli_cmd *cmd = find_command(argv[2]);
        if (!cmd) {
            fprintf(stderr, "sonotok: no command '%s'; try 'sonotok help'\n", argv[2]);
            return CLI_EXIT_USAGE;
        }
        cli_print_help(cmd, stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_IO;
    }
    const cli_cmd *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "sonotok: '%s' is not a sonotok command; try 'sonotok help'\n", name);
        return CLI_EXIT_USAGE;
    }
    if (cpu_level_from_env()) return CLI_EXIT_USAGE;
    omp_wait_passive(argv);
    cli_signals_install();
    /* The command sees itself as argv[0]. */
    return cmd->run(cmd, argc - 1, argv + 1);
}
