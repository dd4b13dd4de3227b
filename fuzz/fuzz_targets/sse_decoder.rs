//! The SSE decoder: the same bytes fed whole or cut anywhere give the same events, and an
//! event over the size limit is refused, never buffered without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_protocol::sse::SseParser;

const LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let mut whole = SseParser::new(LIMIT);
    let mut a = Vec::new();
    let whole_ok = whole.feed(bytes, &mut a).is_ok();
    let mut pieces = SseParser::new(LIMIT);
    let mut b = Vec::new();
    let step = usize::from(cut).max(1);
    let mut pieces_ok = true;
    for chunk in bytes.chunks(step) {
        if pieces.feed(chunk, &mut b).is_err() {
            pieces_ok = false;
            break;
        }
    }
    for e in a.iter().chain(&b) {
        assert!(e.data.len() <= LIMIT, "an event over the limit came out");
    }
    if whole_ok && pieces_ok {
        let show = |v: &Vec<switchboard_protocol::sse::SseEvent>| {
            v.iter()
                .map(|e| (e.event.clone(), e.data.clone(), e.id.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            show(&a),
            show(&b),
            "events depend on how the bytes were cut"
        );
        assert_eq!(whole.last_event_id(), pieces.last_event_id());
    }
});
