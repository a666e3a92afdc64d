//! Properties of the signature schemes over arbitrary inputs: what is signed verifies, any
//! change to a signed byte is refused, and no input makes a verifier panic.

use domain::signing::{skyjoy_webhook, tikivip, SignatureError, TimestampWindow};
use proptest::prelude::*;

const WINDOW: TimestampWindow = TimestampWindow::FIVE_MINUTES;
const NOW: i64 = 1_763_800_000_000;

proptest! {
    #[test]
    fn tikivip_signed_bodies_verify_and_any_flipped_byte_fails(
        secret in proptest::collection::vec(any::<u8>(), 1..64),
        client in "[A-Za-z0-9]{1,40}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
        skew in -300_000i64..=300_000,
        flip in any::<prop::sample::Index>(),
    ) {
        let ts = NOW + skew;
        let sig = tikivip::sign(&secret, ts, &client, &body);
        prop_assert_eq!(tikivip::verify(&secret, ts, &client, &body, &sig, WINDOW, NOW), Ok(()));
        if !body.is_empty() {
            let mut changed = body.clone();
            changed[flip.index(body.len())] ^= 0x01;
            prop_assert_eq!(tikivip::verify(&secret, ts, &client, &changed, &sig, WINDOW, NOW), Err(SignatureError::Mismatch));
        }
    }

    #[test]
    fn skyjoy_webhook_signed_bodies_verify_and_any_flipped_byte_fails(
        secret in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 1..512),
        flip in any::<prop::sample::Index>(),
    ) {
        let header = skyjoy_webhook::sign(&secret, NOW, &body);
        prop_assert_eq!(skyjoy_webhook::verify(&secret, &header, &body, WINDOW, NOW), Ok(NOW));
        let mut changed = body.clone();
        changed[flip.index(body.len())] ^= 0x01;
        prop_assert_eq!(skyjoy_webhook::verify(&secret, &header, &changed, WINDOW, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn verifiers_never_panic_on_arbitrary_headers(header in ".{0,200}", ts in "[0-9a-z ]{0,20}") {
        let _ = skyjoy_webhook::verify(b"k", &header, b"{}", WINDOW, NOW);
        let _ = tikivip::parse_timestamp(&ts);
        let _ = tikivip::verify(b"k", NOW, "c", b"{}", &header, WINDOW, NOW);
        let _ = domain::signing::alipay_plus::parse_header(&header);
    }
}
