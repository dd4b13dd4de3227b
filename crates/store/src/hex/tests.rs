//! Tests of [`hex`](super::hex).

use super::hex;

#[test]
fn encodes_every_byte_lowercase() {
    assert_eq!(hex(b""), "");
    assert_eq!(hex(&[0x00, 0x01, 0x7f, 0x80, 0xab, 0xff]), "00017f80abff");
    let all: Vec<u8> = (0..=255).collect();
    let text = hex(&all);
    assert_eq!(text.len(), 512);
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        assert_eq!(pair, format!("{i:02x}").as_bytes());
    }
}
