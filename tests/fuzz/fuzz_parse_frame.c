/* fuzz_parse_frame.c - libFuzzer target for the fast path's frame parser
 * (fp_parse_frame), the first code every packet from the wire meets.
 *
 * Input: one flag byte, then the frame.  Bit 0 of the flag claims the NIC
 * already verified both checksums, which lets the fuzzer past them and into
 * the TCP header and option parsing; otherwise checksums are computed and
 * checked as on a NIC without offloads.  Beyond "no crash, no out-of-bounds
 * read" (ASan), the target checks what callers rely on: a verdict is one of
 * three, a drop names a valid reason, and an accepted segment's payload lies
 * inside the frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"

static const struct fp_local local = {
    .mac = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 },
    .ip = 0x0101e70a,             /* 10.231.1.1, network order */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    unsigned rxcsum = (data[0] & 1) ? FP_RXCSUM_IP_GOOD | FP_RXCSUM_TCP_GOOD : 0;
    /* A heap copy of exactly the frame, so ASan sees any read past its end. */
    uint32_t len = (uint32_t)(size - 1);
    uint8_t *frame = malloc(len ? len : 1);
    if (!frame)
        return 0;
    memcpy(frame, data + 1, len);

    struct fp_seg seg;
    enum tas_drop_reason reason = TAS_DROP__COUNT;
    enum fp_verdict v = fp_parse_frame(frame, len, &local, rxcsum, &seg, &reason);
    switch (v) {
    case FP_PKT_TCP:
        if (seg.len > len || (seg.len && (seg.payload < frame ||
                                          seg.payload + seg.len > frame + len)))
            abort();
        if (seg.local_ip != local.ip)
            abort();
        break;
    case FP_PKT_DROP:
        if ((unsigned)reason >= TAS_DROP__COUNT)
            abort();
        break;
    case FP_PKT_EXCEPTION:
        break;
    default:
        abort();
    }
    free(frame);
    return 0;
}
