/* Read-only view of a zip archive held in memory, enough for PyTorch
 * checkpoints (torch.save >= 1.6): stored (uncompressed) entries, zip64 end
 * records and extra fields, data descriptors (sizes come from the central
 * directory). Compressed or encrypted entries are refused with
 * SONO_E_UNSUPPORTED when their data is asked for. Nothing is copied: names
 * and data point into the caller's buffer, which must outlive the archive.
 *
 *   zip_archive z;
 *   if ((rc = sn_zip_open(&z, buf, n)) < 0) return rc;
 *   const zip_entry *e = sn_zip_find(&z, "archive/data.pkl", 16);
 *   const uint8_t *p; size_t len;
 *   if (e && (rc = sn_zip_data(&z, e, 1, &p, &len)) == 0) ...
 *   sn_zip_close(&z);
 */
#ifndef SONO_ZIPREAD_H
#define SONO_ZIPREAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;      /* into the archive bytes, not NUL-terminated */
    size_t name_len;
    uint64_t size;         /* stored size in bytes (== uncompressed for method 0) */
    uint64_t usize;        /* uncompressed size from the central directory */
    uint64_t local_off;    /* offset of the local file header */
    uint32_t crc;          /* CRC-32 from the central directory */
    uint16_t method, flags;
    int crc_ok;            /* 1 once the CRC was verified (entries may be read repeatedly) */
} zip_entry;

typedef struct {
    const uint8_t *buf;
    size_t n;
    zip_entry *e;          /* central directory order */
    size_t n_entries;
    zip_entry **by_name;   /* entries sorted by name, for sn_zip_find */
} zip_archive;

/* Parse the end records and the central directory. On failure nothing is
 * left allocated. SONO_E_TRUNCATED when the end records are missing or cut. */
int sn_zip_open(zip_archive *z, const uint8_t *buf, size_t n);
void sn_zip_close(zip_archive *z);

/* Entry with exactly this name (name_len bytes), or NULL. O(log n). */
zip_entry *sn_zip_find(const zip_archive *z, const char *name, size_t name_len);

/* Stored bytes of an entry: checks the local header, the method (stored only),
 * the bounds, and the CRC when check_crc is set (once per entry). */
int sn_zip_data(const zip_archive *z, zip_entry *e, int check_crc, const uint8_t **data, size_t *size);

/* CRC-32 (zip/IEEE polynomial) of n bytes, continuing from crc (0 to start). */
uint32_t sn_zip_crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
