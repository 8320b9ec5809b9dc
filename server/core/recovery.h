/* recovery.h: connection state recovery storage of the local adapter (Node's
 * SessionAwareAdapter): the log of broadcast packets and the sessions of sockets that
 * dropped, both kept for the recovery window and bounded in size.
 *
 * Offsets are the decimal sequence numbers of logged packets, so "every packet after
 * offset" is a suffix of the log, and whether that suffix is complete (nothing purged yet)
 * is one comparison.
 */
#ifndef SIO_RECOVERY_H
#define SIO_RECOVERY_H

#include "adapter.h"

#define SIO_OFFSET_LEN 24 /* a uint64 in decimal, plus NUL */

typedef struct sio_recovery sio_recovery;

sio_recovery *sio_recovery_new(uv_loop_t *loop, const sio_options *opts);
void sio_recovery_free(sio_recovery *r);
/* Sequence number of the newest packet logged (0: none yet): a socket's position. */
uint64_t sio_recovery_position(const sio_recovery *r);
/* The offset the next logged packet will get (to append to its arguments). */
void sio_recovery_next_offset(const sio_recovery *r, char out[SIO_OFFSET_LEN]);
/* Logs f (shared, not copied) as sent to target to. */
void sio_recovery_log(sio_recovery *r, const sio_target *to, const sio_frame *f);
/* Keeps a dropped socket's session: rooms are copied, data is deep-copied. position: the
 * newest packet known to be of no concern to the client (just before the first logged
 * packet sent to it, or the log's position at disconnection when none was). */
void sio_recovery_persist(sio_recovery *r, const char *sid, const char *pid,
                          const char *const *rooms, size_t n_rooms, json_t *data,
                          uint64_t position);
/* Takes the session of pid out, with the packets for its rooms after offset (NULL: the
 * client received none) and after its position. NULL when unknown, expired, or when those
 * packets are no longer all there. The caller frees the result with sio_recovery_record_free(). */
sio_recovery_record *sio_recovery_restore(sio_recovery *r, const char *pid, const char *offset);

#endif
