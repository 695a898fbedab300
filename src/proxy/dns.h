/* The DNS responder of the transparent network mode: query parser and response builder; no I/O, no policy. */
#ifndef SRT_PROXY_DNS_H
#define SRT_PROXY_DNS_H

/*
 * Inside the sandbox, /etc/resolv.conf names 127.0.0.1:53 of the sandbox's
 * own network namespace, where the supervisor answers. For a name the
 * policy allows it answers A/AAAA with addresses it hands out itself and
 * remembers which name each address stands for, so that a
 * later connect() to that address is judged, and dialed, by name. A denied
 * name gets NXDOMAIN; other record types get NOERROR without records. No
 * name is ever sent on to the host's resolver.
 *
 * Everything here reads bytes a hostile sandbox wrote: every length and
 * offset is checked before use, compression pointers are refused where a
 * query has no reason to use them (so none is ever followed), and the work
 * per message is bounded by its length.
 *
 * Thread-safety: none of these functions keeps hidden state.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_LEN 12
#define DNS_LABEL_MAX 63
#define DNS_NAME_MAX 253        /* dotted text, without the trailing dot */
#define DNS_UDP_PLAIN_MAX 512   /* a UDP answer to a query without EDNS (RFC 1035 2.3.4) */
#define DNS_UDP_EDNS_MAX 1232   /* our largest UDP answer: the DNS flag day 2020 size */
#define DNS_TCP_MAX 65535       /* a TCP message's 2-byte length prefix */

/* Record types and the class this module names. */
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_OPT 41
#define DNS_TYPE_ANY 255
#define DNS_CLASS_IN 1

/* RCODE values. BADVERS is an extended code (RFC 6891 6.1.3): it only
 * exists in an answer carrying an OPT record. */
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_FORMERR 1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP 4
#define DNS_RCODE_REFUSED 5
#define DNS_RCODE_BADVERS 16

/* What dns_parse_query() read. */
struct dns_query {
	uint16_t id;
	uint8_t opcode;          /* copied into the answer */
	bool rd;                 /* recursion desired: copied into the answer */
	/* The question name, lowercase (ASCII letters only are folded), dotted,
	 * without the trailing dot; "" for the root. NUL-terminated, name_len
	 * bytes long: the bytes inside a label are kept as sent, so a label may
	 * hold a '.', a NUL or any other byte. */
	char name[DNS_NAME_MAX + 1];
	size_t name_len;
	/* Every byte of every label is one of [a-z0-9_-] (after folding), so
	 * name reads the same as a C string and as dotted labels. When false,
	 * the name is no host name: answer it as denied, never look it up. The
	 * root name is not plain. */
	bool name_plain;
	uint16_t qtype;
	uint16_t qclass;
	/* Where the question ends in the message (12 + name + 4); 0 when the
	 * question was not read. The answer copies msg[12..question_end), so
	 * the name goes back with the case the client chose (a client may
	 * check it, as a defence against spoofing). */
	size_t question_end;
	/* The EDNS OPT record (RFC 6891), when the query had one. */
	bool edns;
	uint16_t edns_udp_size;  /* as sent; a value below 512 means 512 */
	uint8_t edns_version;    /* above 0: answer DNS_RCODE_BADVERS */
	bool edns_do;            /* DNSSEC OK: copied into the answer's OPT */
};

/*
 * Parse msg[0..len), one query as it arrived (a UDP datagram, or a TCP
 * message without its length prefix).
 *
 * Accepted: a standard query: QR 0, OPCODE 0, QDCOUNT 1, ANCOUNT 0,
 * NSCOUNT 0, ARCOUNT 0, or 1 when that record is an OPT record (root
 * owner, its options well-formed), and no byte after the last record.
 * The question name has labels of 1..63 bytes, at most 253 characters in
 * dotted form, and no compression pointer (a client has nothing earlier
 * to point at). The AA, TC, Z, AD, CD and RCODE bits of a query are ignored.
 *
 * Returns 0 with *q filled, or:
 *   -EINVAL    fewer than 12 bytes, or QR 1 (an answer): drop it, unanswered
 *              (answering answers is how reflection loops start).
 *   -ENOTSUP   an OPCODE other than QUERY: answer DNS_RCODE_NOTIMP.
 *   -EBADMSG   anything else malformed: answer DNS_RCODE_FORMERR.
 * On -ENOTSUP and -EBADMSG, *q still holds what the error answer needs:
 * id, opcode, rd, and the question (question_end != 0) when it was read;
 * edns is false, so the error answer has no OPT record.
 */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *q);

/* The largest UDP answer to q: 512 without EDNS, else the client's size,
 * within 512..1232. Over TCP, pass DNS_TCP_MAX instead. */
size_t dns_udp_limit(const struct dns_query *q);

/*
 * Write into out the answer to the query msg[0..qlen) that dns_parse_query()
 * read into q (msg may be NULL when q->question_end is 0).
 *
 * Header: q's id and opcode, QR 1, AA 1, RD as q->rd, RA 1, rcode's low
 * four bits. Question: copied from the query when q->question_end != 0,
 * else none (QDCOUNT 0: the FORMERR or NOTIMP answer to a message whose
 * question could not be read). Answers: n_addrs records, A when addr_len
 * is 4 (each addrs[i][0..4)), AAAA when 16, class IN, the given ttl, owner
 * a compression pointer to the question's name. Additional: an OPT record
 * when q->edns (UDP size 1232, version 0, q's DO bit, the high bits of
 * rcode, no options).
 *
 * When the whole answer would be longer than max_size (taken as at least
 * 512 and at most 65535; see dns_udp_limit()), the answer records are
 * dropped and TC is set, so that the client asks again over TCP.
 *
 * Returns the length written, or 0 when out_cap is too small for it, or
 * for arguments that cannot make an answer: rcode above 4095, or above 15
 * without q->edns; addresses without a question, or with an addr_len
 * other than 4 or 16; a question_end that does not fit qlen.
 */
size_t dns_build_response(const uint8_t *msg, size_t qlen, const struct dns_query *q, int rcode,
			  const uint8_t (*addrs)[16], size_t n_addrs, size_t addr_len, uint32_t ttl,
			  size_t max_size, uint8_t *out, size_t out_cap);

/* DNS over TCP (RFC 1035 4.2.2, RFC 7766) puts a 2-byte big-endian length
 * in front of each message. How many bytes the first message of buf[0..len)
 * takes with its prefix (2 + its length), or 0 when fewer than 2 bytes have
 * arrived; the message is complete once len reaches that, and starts at
 * buf + 2. An answer goes out behind dns_tcp_put_len(). */
size_t dns_tcp_frame_len(const uint8_t *buf, size_t len);
void dns_tcp_put_len(uint8_t out[2], size_t msg_len);

#endif
