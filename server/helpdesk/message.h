/* message.h: the pieces of the contract's message shape that every store and the
 * application share: ids, timestamps, and the message object itself.
 *
 * A message, as every party sees it (spec §3):
 *   {"id","ticket_chat_id","session_id","seq","sender":{"type","id","name"},"message",
 *    "attachment","client_msg_id","created_at"}
 * "name" and "client_msg_id" are null when absent; "attachment" is false or the
 * {url,name,mime,size} object.
 */
#ifndef HD_MESSAGE_H
#define HD_MESSAGE_H

#include <jansson.h>
#include <stdint.h>

#include "buffer.h"
#include "store.h"

#define HD_TIME_LEN    24                /* "2026-11-21T10:00:00.123Z" */
#define HD_ULID_LEN    26                /* Crockford base32: 48-bit ms time, 80 random bits */
#define HD_CHAT_ID_LEN (2 + HD_ULID_LEN) /* "c_" + ULID */

/* Milliseconds since the Unix epoch, from the wall clock. */
int64_t hd_now_ms(void);
/* ISO 8601 UTC with milliseconds; out holds HD_TIME_LEN + 1 bytes. */
void hd_time_iso(int64_t ms, char *out);
/* A ULID for time ms (random part from the OS CSPRNG); out holds HD_ULID_LEN + 1 bytes. */
void hd_ulid(int64_t ms, char *out);
/* A fresh conversation id "c_<ULID>"; out holds HD_CHAT_ID_LEN + 1 bytes. */
void hd_chat_id(int64_t ms, char *out);
/* The message object a post becomes as number seq of conversation chat_id, which belongs
 * to session_id (new reference). */
json_t *hd_message_build(const hd_post *p, const char *chat_id, const char *session_id,
                         int64_t seq);
/* The same message as compact JSON text, appended to out, without building the object:
 * jansson writes every value that needs escaping, the fixed keys and punctuation come
 * from a template (the object and its dump were most of a stored message's CPU). 0, or
 * -1 when a required field is missing or a string is not UTF-8 (out is then as before). */
int hd_message_text(const hd_post *p, const char *chat_id, const char *session_id, int64_t seq,
                    sb_buf *out);

#endif
