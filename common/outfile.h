/* The output writer's internals that tests reach (contract and rules:
 * include/sonotok/output.h). Not installed. */
#ifndef SONO_OUTFILE_H
#define SONO_OUTFILE_H

#include "sonotok/output.h"

/* Tests only: when set, sono_output_commit calls it with the temporary
 * file's path after the file is complete and synced and before it is renamed
 * over the target, so a test can kill the process at the worst moment. */
extern void (*sn_outfile_test_hook)(const char *tmp_path);

#endif
