/* The subcommands of the sonotok program. Each lives in its own cmd_*.c and
 * is listed in the table in sonotok.c; adding a command is one file and one
 * table row. */
#ifndef SONOTOK_COMMANDS_H
#define SONOTOK_COMMANDS_H

#include "cli_util.h"

extern const cli_cmd cmd_tokenize;
extern const cli_cmd cmd_detokenize;
extern const cli_cmd cmd_archive_merge;
extern const cli_cmd cmd_bench;
extern const cli_cmd cmd_eval;
extern const cli_cmd cmd_train_codec;
extern const cli_cmd cmd_wer;
extern const cli_cmd cmd_train_tokenizer;
extern const cli_cmd cmd_tokenize_text;
extern const cli_cmd cmd_phonemize;
extern const cli_cmd cmd_train_lm;
extern const cli_cmd cmd_train_coder;
extern const cli_cmd cmd_train_probe;
extern const cli_cmd cmd_probe;
extern const cli_cmd cmd_generate;

#endif
